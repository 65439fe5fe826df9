using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hangar.Testing;

namespace ApiService.Tests;

/// <summary>
/// A replica with no room for another run: the run it accepts waits, and another replica's worker, woken over Redis,
/// takes it at once rather than at its next poll.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class RunHandoffTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FullReplica_LeavesTheRunToAnother_WhichIsWokenAtOnce()
    {
        var options = new StackOptions
        {
            StreamHubReplicas = 1,
            // Room for one run on each replica, and a minute between polls: only the wake-up can move the run in time.
            Environment = new(HangarStack.TestEnvironment())
            {
                ["Hangar__Runs__PollInterval"] = "00:01:00",
                ["Hangar__Runs__MaxConcurrentRuns"] = "1",
            },
            Echo = HangarStack.Echo,
        };
        await using var app = await Stack.StartAsync(options, Ct);
        var full = app.Replicas("apiservice")[0];
        using var api = app.CreateHttpClient(full.Url);
        var agentId = await stack.CreateAgentAsync(api);

        // The slow reply (10 s) takes the first replica's only place.
        var (slowChat, slow) = await stack.StartChatAsync("slow", agentId, api);
        Assert.Equal("running", slow["run"]!["status"]!.ToString());

        var (queuedChat, queued) = await stack.StartChatAsync("handed over", agentId, api);
        Assert.Equal("pending", queued["run"]!["status"]!.ToString());
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(queued), SseClient.RunEnded, timeout: TimeSpan.FromSeconds(8));

        Assert.Equal("completed", events[^1].Data["status"]!.ToString());
        Assert.Equal("echo: handed over", await HangarStack.LastReplyAsync(api, queuedChat));
        // The first replica was full all along, so the other ran it.
        var slowRun = (await api.GetFromJsonAsync<JsonArray>($"/api/chats/{slowChat}/runs", Ct))!.Single()!;
        Assert.Equal("running", slowRun["status"]!.ToString());
        (await api.PostAsync($"/api/chats/{slowChat}/stop", null, Ct)).EnsureSuccessStatusCode();
    }
}
