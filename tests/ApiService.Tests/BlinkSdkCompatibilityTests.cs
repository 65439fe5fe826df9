using System.Net.Http.Json;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ApiService.Tests;

/// <summary>
/// An agent written with the real <c>blink</c> npm SDK runs through Hangar unchanged: every chunk it streams reaches
/// the SSE client byte for byte and in order, and Hangar stores the same UIMessage that the AI SDK folds from it.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class BlinkSdkCompatibilityTests(HangarStack stack, BlinkSdkAgent agent) : IClassFixture<BlinkSdkAgent>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly JsonSerializerOptions Exact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [Fact]
    public async Task TextTurn_ArrivesChunkForChunk_AndIsStoredAsTheSdkFoldsIt()
    {
        var (chatId, steps) = await RunTurnAsync("hello blink");

        var step = Assert.Single(steps);
        Assert.Equal("echo: hello blink", step.Stored["parts"]![1]!["text"]!.ToString());
    }

    [Fact]
    public async Task ToolLoop_TwoAgentCalls_ArriveChunkForChunk_AndAreStoredAsTheSdkFoldsThem()
    {
        var (_, steps) = await RunTurnAsync("tool: ping");

        Assert.Equal(2, steps.Count);
        Assert.Equal("output-available", steps[0].Stored["parts"]![1]!["state"]!.ToString());
        Assert.Equal("""tool said: {"echoed":"ping"}""", steps[1].Stored["parts"]![1]!["text"]!.ToString());

        // The second call re-sends the whole history, the first step's message as the SDK built it (recording 05).
        var history = JsonNode.Parse(steps[1].Call.RequestBody)!["messages"]!.AsArray();
        Assert.Equal(["user", "assistant"], history.Select(m => m!["role"]!.ToString()));
        Assert.Equal(Canonical(steps[0].Folded["parts"]), Canonical(history[1]!["parts"]));
        Assert.Equal(steps[0].Stored["id"]!.ToString(), history[1]!["id"]!.ToString());
    }

    [Fact]
    public async Task KvTurn_TheSdksStorageChatAndTraceCalls_WorkAgainstHangar()
    {
        var agentId = agent.AgentId;
        var (chatId, send) = await stack.StartChatAsync("kv: forty-two", agentId);
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
        Assert.True(events[^1].Data["status"]!.ToString() == "completed", events[^1].RawData);

        var reply = (await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages", Ct))![^1]!["parts"]!.AsArray()
            .Single(p => p!["type"]!.ToString() == "text")!["text"]!.ToString();
        Assert.StartsWith("""stored forty-two; list={"entries":[{"key":"last-value","value":"forty-two"}]}; side chat """, reply, StringComparison.Ordinal);
        var sideChat = reply[(reply.LastIndexOf(' ') + 1)..];
        var sideMessages = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{sideChat}/messages", Ct);
        Assert.Equal("noted forty-two", sideMessages!.Single()!["parts"]![0]!["text"]!.ToString());

        // The SDK exports its spans when asked to flush; they reach the run's trace next to Hangar's, filed under the run.
        using var http = new HttpClient();
        (await http.PostAsync(agent.Url + "/_agent/flush-otel", null, Ct)).EnsureSuccessStatusCode();
        var runId = send["run"]!["id"]!.ToString();
        var traced = await HangarStack.WaitForAsync(async () =>
        {
            var t = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}/runs/{runId}/trace", Ct);
            var all = Spans(t!["roots"]!.AsArray()).ToList();
            // Hangar writes its own spans in batches, so they may come a moment after the agent's.
            return all.Any(s => s["name"]!.ToString() == "POST /_agent/chat")
                && all.Any(s => s["name"]!.ToString() == "agent.chat" && s["service_name"]!.ToString() == "Hangar.ApiService") ? all : null;
        });
        var sdkSpan = traced.First(s => s["name"]!.ToString() == "POST /_agent/chat");
        Assert.Equal(runId, sdkSpan["run_id"]!.ToString());
        var spans = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/spans?attr=url.path=/kv/last-value", Ct);
        Assert.NotEmpty(spans!["items"]!.AsArray());
        Assert.All(spans["items"]!.AsArray(), s => Assert.Equal(runId, s!["run_id"]!.ToString()));
    }

    /// <summary>Every span of a trace tree, parents before children.</summary>
    private static IEnumerable<JsonNode> Spans(JsonArray nodes) =>
        nodes.SelectMany(n => Spans(n!["children"]!.AsArray()).Prepend(n["span"]!));

    private sealed record Step(RecordingProxy.RecordedCall Call, JsonObject Folded, JsonObject Stored);

    /// <summary>
    /// Runs one turn to its end and checks each agent call of it: the chunks at the client against the bytes the agent
    /// sent, and the stored message against the AI SDK's fold of those bytes.
    /// </summary>
    private async Task<(Guid ChatId, List<Step> Steps)> RunTurnAsync(string text)
    {
        var (chatId, send) = await stack.StartChatAsync(text, agent.Url);
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
        Assert.True(events[^1].Data["status"]!.ToString() == "completed", events[^1].RawData);

        var calls = (await agent.Proxy!.CallsAsync()).Where(c => c.Path == "/_agent/chat" && JsonNode.Parse(c.RequestBody)!["id"]!.ToString() == chatId.ToString()).ToList();
        var chunksByMessage = events.Where(e => e.Type == "message.chunk.added").GroupBy(e => e.Data["id"]!.ToString()).ToList();
        var stored = (await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages"))!
            .Where(m => m!["role"]!.ToString() == "assistant").Select(m => m!.AsObject()).ToList();
        Assert.Equal(calls.Count, chunksByMessage.Count);
        Assert.Equal(calls.Count, stored.Count);

        var steps = new List<Step>();
        for (var i = 0; i < calls.Count; i++)
        {
            var sent = SentChunks(calls[i].ResponseBody);
            var received = chunksByMessage[i].ToList();
            Assert.Equal(sent.Count, received.Count);
            for (var c = 0; c < sent.Count; c++)
            {
                Assert.EndsWith($"\"chunk\":{sent[c]}}}", received[c].RawData, StringComparison.Ordinal);
            }

            var folded = await BlinkSdkAgent.FoldWithAiSdkAsync(calls[i].ResponseBody);
            Assert.Equal(chunksByMessage[i].Key, stored[i]["id"]!.ToString());
            Assert.Equal(Canonical(folded["parts"]), Canonical(stored[i]["parts"]));
            Assert.Equal(Canonical(folded["metadata"]), Canonical(stored[i]["metadata"]));
            var created = events.Single(e => e.Type == "message.created" && e.Data["id"]!.ToString() == stored[i]["id"]!.ToString());
            Assert.Equal(Canonical(folded["parts"]), Canonical(created.Data["parts"]));
            steps.Add(new Step(calls[i], folded, stored[i]));
        }

        return (chatId, steps);
    }

    /// <summary>The JSON of every <c>data:</c> frame the agent sent, in order, without the closing <c>[DONE]</c>.</summary>
    private static List<string> SentChunks(string sseBody) =>
        [.. sseBody.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.StartsWith("data: ", StringComparison.Ordinal) && l != "data: [DONE]").Select(l => l[6..])];

    /// <summary>Serialised the same way on both sides, so key order and every value must match.</summary>
    private static string Canonical(JsonNode? node) => node?.ToJsonString(Exact) ?? "null";
}
