using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Hangar.StreamBench;

/// <summary>
/// What the bench does through Hangar's API: an agent at a URL, chats, messages. Stream links are followed on
/// <paramref name="streamHub"/>, one StreamHub replica itself, rather than through the local orchestrator's proxy
/// they name, which is not the platform's and would add a hop of its own to every figure.
/// </summary>
internal sealed class HangarClient(HttpClient api, string streamHub)
{
    public static HttpClient Http(string? baseUrl = null, string? apiKey = null)
    {
        // Idle connections retire before a Node agent closes them (after 5 s), as Hangar's own agent client does.
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, UseProxy = false, PooledConnectionIdleTimeout = TimeSpan.FromSeconds(4) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
            BaseAddress = baseUrl is null ? null : new Uri(baseUrl),
        };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return client;
    }

    /// <summary>An agent whose deployment is the bench agent already running at <paramref name="url"/>.</summary>
    public async Task<Guid> CreateAgentAsync(string name, string url)
    {
        var agent = await Json(await api.PostAsJsonAsync("/api/agents", new { name = $"{name}-{Guid.NewGuid().ToString("N")[..6]}" }));
        var agentId = agent["id"]!.GetValue<Guid>();
        await Json(await api.PostAsJsonAsync($"/api/agents/{agentId}/deployments", new { runtime = "external", url }));
        return agentId;
    }

    /// <summary>A chat, with a first message when <paramref name="text"/> is given; its id and stream URL.</summary>
    public async Task<(Guid ChatId, string StreamUrl)> CreateChatAsync(Guid agentId, string? text)
    {
        var body = await Json(await api.PostAsJsonAsync("/api/chats", new { agent_id = agentId, messages = text is null ? null : Messages(text) }));
        return (body["chat"]!["id"]!.GetValue<Guid>(), streamHub + new Uri(body["stream"]!["url"]!.ToString()).PathAndQuery);
    }

    public async Task SendAsync(Guid chatId, string text) =>
        await Json(await api.PostAsJsonAsync($"/api/chats/{chatId}/messages", new { messages = Messages(text) }));

    /// <summary>The chat's messages as Hangar sends them to its agent: id, role, parts and metadata.</summary>
    public async Task<List<JsonObject>> MessagesAsync(Guid chatId)
    {
        var messages = JsonNode.Parse(await api.GetStringAsync($"/api/chats/{chatId}/messages"))!.AsArray();
        return [.. messages.Select(m => new JsonObject
        {
            ["id"] = m!["id"]!.DeepClone(),
            ["role"] = m["role"]!.DeepClone(),
            ["parts"] = m["parts"]!.DeepClone(),
            ["metadata"] = m["metadata"]?.DeepClone(),
        })];
    }

    private static object[] Messages(string text) => [new { role = "user", parts = new[] { new { type = "text", text } } }];

    private static async Task<JsonObject> Json(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode
            ? JsonNode.Parse(text)!.AsObject()
            : throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {text}");
    }
}

/// <summary>The bench agent called directly, as Hangar calls it: the ceiling every workload is measured against.</summary>
internal static class DirectAgent
{
    public static Task RunTurnAsync(HttpClient http, string agentUrl, string text, Turn turn) =>
        RunTurnAsync(http, agentUrl, new JsonArray(new JsonObject
        {
            ["id"] = Guid.NewGuid().ToString(),
            ["role"] = "user",
            ["parts"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = text }),
            ["metadata"] = null,
        }), turn);

    /// <summary>One turn with <paramref name="messages"/> as the chat's history (UI messages: id, role, parts, metadata).</summary>
    public static async Task RunTurnAsync(HttpClient http, string agentUrl, JsonArray messages, Turn turn)
    {
        var body = new JsonObject { ["id"] = Guid.NewGuid().ToString(), ["messages"] = messages };
        turn.Send();
        using var request = new HttpRequestMessage(HttpMethod.Post, agentUrl + "/_agent/chat")
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        await SseReader.ReadAsync(await response.Content.ReadAsStreamAsync(), (_, _, data) =>
        {
            var now = Stopwatch.GetTimestamp();
            if (data.SequenceEqual("[DONE]"u8))
            {
                turn.End("completed", now);
                return true;
            }

            turn.OnChunk(data, now);
            return false;
        }, CancellationToken.None);
    }
}
