namespace Hangar.Wrapper;

/// <summary>
/// The wrapper's settings, from the environment names Blink's wrapper uses (shared/protocol/blink §5) so that a
/// deployment's environment is the same under both, plus Hangar's own <c>HANGAR_WRAPPER_*</c> beside them.
/// </summary>
internal sealed record WrapperOptions(
    string Entrypoint, int Port, string Host, int InternalApiPort, Uri Upstream, string DeploymentToken, TimeSpan StopTimeout, bool StructuredLogs)
{
    /// <summary>Where the agent listens: the port after the wrapper's, on loopback.</summary>
    public int AgentPort => Port + 1;

    public static WrapperOptions FromEnvironment(Func<string, string?> get)
    {
        string Required(string name) =>
            get(name) is { Length: > 0 } value ? value : throw new WrapperConfigurationException($"{name} is not set.");

        int PortOf(string name, string? fallback)
        {
            var text = get(name) is { Length: > 0 } value ? value : fallback ?? Required(name);
            return int.TryParse(text, out var port) && port is > 0 and < 65535
                ? port
                : throw new WrapperConfigurationException($"{name} must be a TCP port below 65535, not '{text}'.");
        }

        var upstream = Required("INTERNAL_BLINK_API_SERVER_URL");
        if (!Uri.TryCreate(upstream.TrimEnd('/') + "/", UriKind.Absolute, out var upstreamUri) || upstreamUri.Scheme is not ("http" or "https"))
        {
            throw new WrapperConfigurationException($"INTERNAL_BLINK_API_SERVER_URL must be an http(s) URL, not '{upstream}'.");
        }

        var stop = get("HANGAR_WRAPPER_STOP_TIMEOUT_SECONDS");
        return new WrapperOptions(
            Required("ENTRYPOINT"),
            PortOf("PORT", "3000"),
            get("HANGAR_WRAPPER_HOST") is { Length: > 0 } host ? host : "0.0.0.0",
            PortOf("INTERNAL_BLINK_API_SERVER_LISTEN_PORT", null),
            upstreamUri,
            Required("BLINK_DEPLOYMENT_TOKEN"),
            TimeSpan.FromSeconds(double.TryParse(stop, out var seconds) && seconds > 0 ? seconds : 8),
            get("BLINK_USE_STRUCTURED_LOGGING") == "1");
    }
}

internal sealed class WrapperConfigurationException(string message) : Exception(message);
