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
        var (slowChat, slow) = await StartChatAsync(api, agentId, "slow");
        Assert.Equal("running", slow["run"]!["status"]!.ToString());

        var (_, queued) = await StartChatAsync(api, agentId, "handed over");
        Assert.Equal("pending", queued["run"]!["status"]!.ToString());
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(queued), SseClient.RunEnded, timeout: TimeSpan.FromSeconds(8));

        Assert.Equal("completed", events[^1].Data["status"]!.ToString());
        Assert.Equal("echo: handed over", await LastReplyAsync(api, queued["chat"]!["id"]!.GetValue<Guid>()));
        // apiservice-0 was full all along, so apiservice-1 ran it.
        var slowRun = (await api.GetFromJsonAsync<JsonArray>($"/api/chats/{slowChat}/runs", Ct))!.Single()!;
        Assert.Equal("running", slowRun["status"]!.ToString());
        (await api.PostAsync($"/api/chats/{slowChat}/stop", null, Ct)).EnsureSuccessStatusCode();
    }

    private static async Task<(Guid ChatId, JsonObject Response)> StartChatAsync(HttpClient api, Guid agentId, string text)
    {
        var response = await api.PostAsJsonAsync("/api/chats", new { agent_id = agentId, messages = new[] { HangarStack.UserMessage(text) } }, Ct);
        response.EnsureSuccessStatusCode();
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        return (body["chat"]!["id"]!.GetValue<Guid>(), body);
    }

    private static async Task<string> LastReplyAsync(HttpClient api, Guid chatId)
    {
        var messages = await api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages", Ct);
        return string.Concat(messages![^1]!["parts"]!.AsArray().Where(p => p!["type"]!.ToString() == "text").Select(p => p!["text"]!.ToString()));
    }
}
