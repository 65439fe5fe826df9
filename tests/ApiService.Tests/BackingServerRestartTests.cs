using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hangar.Contracts;
using Npgsql;

namespace ApiService.Tests;

/// <summary>
/// The stack's PostgreSQL and Redis crashing and staying down for a moment while a run streams: the services reconnect
/// on their own, the run in flight completes once, stored messages are intact, and chunks Redis could not take are
/// followed by a reset.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class BackingServerRestartTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RestartedPostgres_ServicesReconnectOnTheirOwn_AndTheRunInFlightCompletesOnce()
    {
        var (before, sent) = await stack.StartChatAsync("before the database restart");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(sent), SseClient.RunEnded);

        // Down for longer than a heartbeat (1 s) but not the lease (6 s): renewals fail, and the run must go on.
        var (chatId, reading) = await StartSlowChatAsync(afterChunks: 20, () => stack.Stack.RestartServerAsync("postgres", TimeSpan.FromSeconds(1.5), Ct));
        var events = await reading;

        // The services recover on their own (that is the test); this process's pooled connections died with the
        // server, and the tests that share the stack query PostgreSQL directly.
        NpgsqlConnection.ClearAllPools();
        Assert.True(events[^1].Data["status"]!.ToString() == "completed", events[^1].RawData);
        Assert.Equal(SlowDeltas, Deltas(events));
        foreach (var url in stack.ApiUrls)
        {
            using var api = HangarStack.Client(url, HangarStack.ApiKey);
            Assert.Equal("echo: before the database restart", await HangarStack.LastReplyAsync(api, before));
            Assert.Equal(string.Concat(SlowDeltas), await HangarStack.LastReplyAsync(api, chatId));
            var run = Assert.Single((await api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/runs", Ct))!);
            Assert.Equal("completed", run!["status"]!.ToString());
        }

        var (_, after) = await stack.StartChatAsync("after the database restart");
        Assert.Equal("completed", (await SseClient.ReadUntilAsync(HangarStack.StreamUrl(after), SseClient.RunEnded))[^1].Data["status"]!.ToString());
    }

    [Fact]
    public async Task RestartedRedis_TheRunInFlightCompletes_LostChunksAreFollowedByAReset_AndStreamsRecover()
    {
        var (before, sent) = await stack.StartChatAsync("before the redis restart");
        var beforeEvents = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(sent), SseClient.RunEnded);

        // Down for a second: the agent streams a chunk every 50 ms, so appends fail for certain.
        var (chatId, reading) = await StartSlowChatAsync(afterChunks: 20, () => stack.Stack.RestartServerAsync("redis", TimeSpan.FromSeconds(1), Ct));
        var events = await reading;

        Assert.True(events[^1].Data["status"]!.ToString() == "completed", events[^1].RawData);
        var deltas = Deltas(events);
        Assert.Equal(deltas.Distinct().Count(), deltas.Count);
        Assert.Equal(deltas, SlowDeltas.Where(deltas.Contains));
        var created = events.FindIndex(e => e.Type == ChatEvents.MessageCreated && e.Data["role"]!.ToString() == "assistant");
        Assert.True(created >= 0, "no message.created for the reply");
        // Chunks appended while Redis was down are lost; the stream says so after them, before the whole reply.
        Assert.True(deltas.Count < SlowDeltas.Count, "no chunk was lost while Redis was down");
        var lastBeforeTheGap = SlowDeltas.Zip(deltas).TakeWhile(pair => pair.First == pair.Second).Last().Second;
        var reset = events.FindIndex(e => e.Type == ChatEvents.Reset);
        Assert.True(reset >= 0, $"{SlowDeltas.Count - deltas.Count} chunks were lost without a reset");
        Assert.Contains("Redis lost", events[reset].Data["reason"]!.ToString(), StringComparison.Ordinal);
        Assert.InRange(reset, events.FindIndex(e => Delta(e) == lastBeforeTheGap) + 1, created - 1);

        Assert.Equal(string.Concat(SlowDeltas), events[created].Data["parts"]!.AsArray().Single(p => p!["type"]!.ToString() == "text")!["text"]!.ToString());
        Assert.Equal(string.Concat(SlowDeltas), await HangarStack.LastReplyAsync(stack.Api, chatId));
        Assert.Equal("echo: before the redis restart", await HangarStack.LastReplyAsync(stack.Api, before));

        // The streams were kept on disk: the earlier chat reads back whole on either StreamHub, and new chats stream.
        foreach (var hub in stack.StreamHubUrls)
        {
            var url = HangarStack.OnHub(hub, HangarStack.StreamUrl(sent));
            var replayed = await SseClient.ReadUntilAsync(url, SseClient.RunEnded);
            Assert.Equal(beforeEvents.Select(e => e.Id), replayed.Select(e => e.Id));
        }

        var (_, after) = await stack.StartChatAsync("after the redis restart");
        Assert.Equal("completed", (await SseClient.ReadUntilAsync(HangarStack.StreamUrl(after), SseClient.RunEnded))[^1].Data["status"]!.ToString());
    }

    /// <summary>The test agent's <c>slow</c> reply: 200 deltas, 50 ms apart.</summary>
    private static readonly List<string> SlowDeltas = [.. Enumerable.Range(0, 200).Select(i => $"{i} ")];

    /// <summary>Starts a <c>slow</c> chat, follows its stream, and runs <paramref name="crash"/> once that many chunks arrived.</summary>
    private async Task<(Guid ChatId, Task<List<SseEvent>> Events)> StartSlowChatAsync(int afterChunks, Func<Task> crash)
    {
        var (chatId, send) = await stack.StartChatAsync("slow");
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var chunks = 0;
        var reading = SseClient.ReadUntilAsync(
            HangarStack.StreamUrl(send),
            e =>
            {
                if (e.Type == ChatEvents.MessageChunkAdded && ++chunks == afterChunks)
                {
                    reached.TrySetResult();
                }

                return SseClient.RunEnded(e);
            },
            timeout: TimeSpan.FromSeconds(60));
        await reached.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        await crash();
        return (chatId, reading);
    }

    private static string? Delta(SseEvent e) =>
        e.Type == ChatEvents.MessageChunkAdded && e.Data["chunk"]!["type"]!.ToString() == "text-delta" ? e.Data["chunk"]!["delta"]!.ToString() : null;

    private static List<string> Deltas(List<SseEvent> events) => [.. events.Select(Delta).OfType<string>()];
}
