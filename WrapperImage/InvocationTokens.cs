using System.Collections.Concurrent;

namespace Hangar.Wrapper;

/// <summary>
/// The invocation tokens of the steps the agent is answering, by step id. The Blink SDK's internal API calls carry
/// the step in their W3C <c>baggage</c> (<c>blink.step_id</c>), so a call made during a step goes upstream with that
/// step's token, as Blink's wrapper does, and the platform files it under the step; other calls use the deployment token.
/// </summary>
internal sealed class InvocationTokens
{
    private readonly ConcurrentDictionary<string, string> _byStep = new(StringComparer.Ordinal);

    /// <summary>Remembers the token while the step's request is in flight; dispose the result when it ends.</summary>
    public IDisposable Remember(string stepId, string token)
    {
        _byStep[stepId] = token;
        return new Forget(this, stepId, token);
    }

    /// <summary>The token of the step named in a <c>baggage</c> header, if that step is in flight.</summary>
    public string? ForBaggage(string? baggage)
    {
        if (baggage is null)
        {
            return null;
        }

        foreach (var member in baggage.Split(','))
        {
            var pair = member.Split(';', 2)[0];
            var equals = pair.IndexOf('=');
            if (equals > 0 && pair.AsSpan(0, equals).Trim().SequenceEqual("blink.step_id"))
            {
                var stepId = Uri.UnescapeDataString(pair[(equals + 1)..].Trim());
                return _byStep.TryGetValue(stepId, out var token) ? token : null;
            }
        }

        return null;
    }

    private sealed class Forget(InvocationTokens tokens, string stepId, string token) : IDisposable
    {
        public void Dispose() => tokens._byStep.TryRemove(new KeyValuePair<string, string>(stepId, token));
    }
}
