using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hangar.AppHost;

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
        var options = new HangarAppOptions
        {
            ApiReplicas = 2,
            StreamHubReplicas = 1,
            FastUnsafePostgres = true,
            DeployerRuntime = "none",
            Dashboard = false,
            // A minute between polls: only the wake-up can move the run in time.
            Environment = { ["Hangar__Runs__PollInterval"] = "00:01:00" },
            ResourceEnvironment = { ["apiservice-0"] = new() { ["Hangar__Runs__MaxConcurrentRuns"] = "1" } },
        };
        await using var app = await HangarApp.StartAsync(options, HangarStack.Echo, Ct);
        using var api = app.CreateHttpClient("apiservice-0");
        var agentId = await stack.CreateAgentAsync(api);

        // The slow reply (10 s) takes apiservice-0's only place.
        var (slowChat, slow) = await stack.StartChatAsync("slow", agentId, api);
        Assert.Equal("running", slow["run"]!["status"]!.ToString());

        var (queuedChat, queued) = await stack.StartChatAsync("handed over", agentId, api);
        Assert.Equal("pending", queued["run"]!["status"]!.ToString());
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(queued), SseClient.RunEnded, timeout: TimeSpan.FromSeconds(8));

        Assert.Equal("completed", events[^1].Data["status"]!.ToString());
        Assert.Equal("echo: handed over", await HangarStack.LastReplyAsync(api, queuedChat));
        // apiservice-0 was full all along, so apiservice-1 ran it.
        var slowRun = (await api.GetFromJsonAsync<JsonArray>($"/api/chats/{slowChat}/runs", Ct))!.Single()!;
        Assert.Equal("running", slowRun["status"]!.ToString());
        (await api.PostAsync($"/api/chats/{slowChat}/stop", null, Ct)).EnsureSuccessStatusCode();
    }
}
