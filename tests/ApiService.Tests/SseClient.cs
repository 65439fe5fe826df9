using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;

namespace ApiService.Tests;

/// <summary>One event as a client sees it: <paramref name="RawData"/> is the <c>data:</c> text exactly as it arrived.</summary>
public sealed record SseEvent(string Id, string Type, JsonObject Data, string RawData);

/// <summary>Reads a StreamHub stream the way a browser's EventSource would, until a condition holds.</summary>
public static class SseClient
{
    public static async Task<List<SseEvent>> ReadUntilAsync(string url, Func<SseEvent, bool> last, string? lastEventId = null, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        using var client = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        response.EnsureSuccessStatusCode();
        var events = new List<SseEvent>();
        await foreach (var e in ReadEventsAsync(await response.Content.ReadAsStreamAsync(cts.Token), cts.Token))
        {
            events.Add(e);
            if (last(e))
            {
                return events;
            }
        }

        throw new InvalidOperationException("The stream ended before the expected event. Got: " + string.Join(", ", events.Select(e => e.Type)));
    }

    /// <summary>
    /// Every event of an SSE body as it arrives. Events without <c>id:</c> or <c>event:</c> lines (an agent's UI message
    /// stream) have empty ones; data that is not a JSON object (<c>[DONE]</c>) has an empty <see cref="SseEvent.Data"/>.
    /// </summary>
    public static async IAsyncEnumerable<SseEvent> ReadEventsAsync(Stream body, [EnumeratorCancellation] CancellationToken ct)
    {
        using var reader = new StreamReader(body, Encoding.UTF8);
        string id = "", type = "";
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0)
                {
                    var raw = data.ToString();
                    yield return new SseEvent(id, type, raw.StartsWith('{') ? JsonNode.Parse(raw)!.AsObject() : [], raw);
                    data.Clear();
                }

                continue;
            }

            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line[6..]);
            }
        }
    }

    /// <summary>True for the event that ends a run: <c>run.updated</c> with a final status.</summary>
    public static bool RunEnded(SseEvent e) =>
        e.Type == "run.updated" && e.Data["status"]!.ToString() is "completed" or "failed" or "interrupted" or "stopped";
}
