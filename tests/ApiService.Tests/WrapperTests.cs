using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hangar.Testing;
using Hangar.Wrapper;

namespace ApiService.Tests;

/// <summary>The runtime wrapper around a dependency-free Node agent (tests/agents/plain), calling the real ApiService.</summary>
[Collection(nameof(HangarStack))]
public sealed class WrapperTests(HangarStack stack)
{
    private static readonly string PlainAgent = Path.Combine(ServiceProcess.RepositoryRoot, "tests", "agents", "plain", "agent.mjs");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Chat_ThroughTheWrapper_ArrivesChunkByChunk()
    {
        await using var wrapper = await StartAsync(new() { ["TICKS"] = "3", ["TICK_MS"] = "400" });
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, wrapper.Url + "/_agent/chat") { Content = JsonContent.Create(new { id = Guid.NewGuid(), messages = Array.Empty<object>() }) };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

        // Each delta carries the agent's clock when it was written; the first must arrive before the second is written.
        var arrivals = new List<(long SentAt, long ArrivedAt)>();
        await foreach (var e in SseClient.ReadEventsAsync(await response.Content.ReadAsStreamAsync(Ct), Ct))
        {
            if (e.Data["type"]?.ToString() == "text-delta")
            {
                var sentAt = long.Parse(e.Data["delta"]!.ToString().Split(' ')[3]);
                arrivals.Add((sentAt, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));
            }
        }

        Assert.Equal(3, arrivals.Count);
        Assert.True(arrivals[0].ArrivedAt < arrivals[1].SentAt, $"the first chunk arrived at {arrivals[0].ArrivedAt}, after the second was sent at {arrivals[1].SentAt}");
        Assert.True(arrivals[1].ArrivedAt < arrivals[2].SentAt, $"the second chunk arrived at {arrivals[1].ArrivedAt}, after the third was sent at {arrivals[2].SentAt}");
    }

    [Fact]
    public async Task AgentOutput_IsShippedAsLogs_StdoutAsInfoAndStderrAsError()
    {
        var (agentId, token) = await DeployAsync();
        await using var wrapper = WrapperProcess.Start("plain-agent", PlainAgent, FreePort.NextPair(), stack.ApiUrls[1], token);
        await wrapper.WaitHealthyAsync();

        var logs = await HangarStack.WaitForAsync(async () =>
        {
            var page = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/logs?q=plain%20agent", Ct);
            var items = page!["items"]!.AsArray();
            return items.Count >= 3 ? items : null;
        });
        var byBody = logs.ToDictionary(l => l!["body"]!.ToString(), l => l!);
        Assert.Equal("info", byBody["plain agent starting (mode serve)"]["level"]!.ToString());
        Assert.Equal("stdout", byBody["plain agent starting (mode serve)"]["attributes"]!["log.iostream"]!.ToString());
        Assert.Equal("error", byBody["plain agent stderr line"]["level"]!.ToString());
        Assert.Equal("stderr", byBody["plain agent stderr line"]["attributes"]!["log.iostream"]!.ToString());
    }

    [Fact]
    public async Task Sigterm_GoesToTheAgent_AndTheWrapperExitsWithTheAgentsCode()
    {
        await using var wrapper = await StartAsync([]);
        await wrapper.Process.StopAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, wrapper.Process.ExitCode);
        Assert.Contains("plain agent: SIGTERM, closing", wrapper.Process.RecentOutput());
    }

    [Fact]
    public async Task CrashingEntrypoint_EndsTheWrapperWithItsCode_AndItsLastLinesAreShipped()
    {
        var (agentId, token) = await DeployAsync();
        await using var wrapper = WrapperProcess.Start("plain-agent", PlainAgent, FreePort.NextPair(), stack.ApiUrls[1], token, new Dictionary<string, string> { ["AGENT_MODE"] = "crash" });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await wrapper.Process.WaitForExitAsync(timeout.Token);

        Assert.Equal(3, wrapper.Process.ExitCode);
        var logs = await HangarStack.WaitForAsync(async () =>
        {
            var page = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/logs?q=crashing", Ct);
            return page!["items"]!.AsArray() is { Count: > 0 } items ? items : null;
        });
        Assert.Equal("plain agent: crashing on purpose", logs[0]!["body"]!.ToString());
    }

    [Fact]
    public async Task MissingEntrypoint_ExitsWithAReadableError()
    {
        var (_, token) = await DeployAsync();
        await using var wrapper = WrapperProcess.Start("no-agent", "/nonexistent/agent.mjs", FreePort.NextPair(), stack.ApiUrls[1], token);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await wrapper.Process.WaitForExitAsync(timeout.Token);

        Assert.Equal(2, wrapper.Process.ExitCode);
        Assert.Contains("ENTRYPOINT '/nonexistent/agent.mjs' does not exist", wrapper.Process.RecentOutput());
    }

    [Fact]
    public void InvocationTokens_AreFoundByTheStepInTheBaggage_WhileTheStepIsInFlight()
    {
        var tokens = new InvocationTokens();
        using (tokens.Remember("step-1", "token-1"))
        {
            Assert.Equal("token-1", tokens.ForBaggage("blink.run_id=r1, blink.step_id=step-1;prop=x,blink.chat_id=c"));
            Assert.Null(tokens.ForBaggage("blink.step_id=step-2"));
            Assert.Null(tokens.ForBaggage(null));
        }

        Assert.Null(tokens.ForBaggage("blink.step_id=step-1"));
    }

    private async Task<(Guid AgentId, string Token)> DeployAsync()
    {
        var (agentId, _, token) = await stack.DeployAgentAsync(url: "http://127.0.0.1:9");
        return (agentId, token);
    }

    private async Task<WrapperProcess> StartAsync(Dictionary<string, string> environment)
    {
        var (_, token) = await DeployAsync();
        var wrapper = WrapperProcess.Start("plain-agent", PlainAgent, FreePort.NextPair(), stack.ApiUrls[1], token, environment);
        await wrapper.WaitHealthyAsync();
        return wrapper;
    }
}
