using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace ApiService.Tests;

/// <summary>
/// Uploaded bundles run as containers on the real Docker engine (and as processes), managed by real Deployer
/// processes: the Blink SDK agent chats, stores and logs through the wrapper; a redeploy switches without a failed
/// chat; a killed container comes back; a crashing entrypoint fails with its output; a restarted Deployer adopts.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class DeploymentTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task BlinkSdkBundle_InDocker_ChatsStoresAndLogsThroughTheWrapper()
    {
        var agentId = await CreateAgentAsync();
        var uploaded = Stopwatch.StartNew();
        var deployment = await DeployAsync(agentId, Bundles.TarGz(Bundles.BlinkEcho), "echo-agent.js", "docker");
        Assert.Equal("pending", deployment["status"]!.ToString());
        var running = await WaitForStatusAsync(agentId, deployment, "running");
        TestContext.Current.SendDiagnosticMessage($"upload to healthy (docker): {uploaded.ElapsedMilliseconds} ms");

        Assert.StartsWith("http://127.0.0.1:", running["url"]!.ToString(), StringComparison.Ordinal);
        var agent = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}", Ct);
        Assert.Equal(running["id"]!.ToString(), agent!["active_deployment_id"]!.ToString());
        using var docker = new TestDocker();
        var container = Assert.Single(await docker.ContainersAsync($"{Hangar.Deployer.Runtimes.DockerRuntime.DeploymentLabel}={running["id"]}", Ct));
        Assert.Equal("running", container.State);

        Assert.Equal("echo: hello from a container", await ChatAsync(agentId, "hello from a container"));
        var stored = await ChatAsync(agentId, "kv: in-a-container");
        Assert.StartsWith("stored in-a-container;", stored, StringComparison.Ordinal);

        // The agent's stdout went through the wrapper's log shipper to ApiService.
        await HangarStack.WaitForAsync(async () =>
        {
            var logs = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/logs?q=echo+agent+listening", Ct);
            return logs!["items"]!.AsArray().Count > 0 ? logs : null;
        });
    }

    [Fact]
    public async Task BlinkSdkBundle_AsAProcess_ChatsAndStores()
    {
        var agentId = await CreateAgentAsync();
        var uploaded = Stopwatch.StartNew();
        var deployment = await DeployAsync(agentId, Bundles.TarGz(Bundles.BlinkEcho), "echo-agent.js", "process");
        await WaitForStatusAsync(agentId, deployment, "running");
        TestContext.Current.SendDiagnosticMessage($"upload to healthy (process): {uploaded.ElapsedMilliseconds} ms");

        Assert.Equal("echo: hello from a process", await ChatAsync(agentId, "hello from a process"));
        Assert.StartsWith("stored as-a-process;", await ChatAsync(agentId, "kv: as-a-process"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Redeploy_SwitchesToTheNewContainer_WithoutAFailedChat()
    {
        var agentId = await CreateAgentAsync();
        var first = await WaitForStatusAsync(agentId, await DeployPlainAsync(agentId, """{"TICKS":"8","TICK_MS":"25"}"""), "running");
        var firstContainer = await ContainerOfAsync(first);

        using var chatting = new CancellationTokenSource();
        var outcomes = new List<string>();
        var chats = Task.Run(async () =>
        {
            while (!chatting.IsCancellationRequested)
            {
                var (chatId, send) = await stack.StartChatAsync("during the switch", agentId);
                var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
                lock (outcomes)
                {
                    outcomes.Add(events[^1].Data["status"]!.ToString() + " " + events[^1].RawData);
                }
            }
        }, Ct);

        await Task.Delay(500, Ct);
        var redeployed = await stack.Api.PostAsJsonAsync($"/api/agents/{agentId}/deployments/{first["id"]}/redeploy", new { }, Ct);
        Assert.Equal(HttpStatusCode.Created, redeployed.StatusCode);
        var second = (await redeployed.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        Assert.Equal(first["bundle_hash"]!.ToString(), second["bundle_hash"]!.ToString());
        Assert.Equal(first["id"]!.ToString(), second["redeployed_from"]!.ToString());
        await WaitForStatusAsync(agentId, second, "running");
        await WaitForStatusAsync(agentId, first, "stopped");

        // The old container goes once its steps in flight are done; chats keep going to the new one.
        using var docker = new TestDocker();
        await HangarStack.WaitForAsync(async () => await docker.InspectAsync(firstContainer, Ct) is null ? "removed" : null);
        await Task.Delay(500, Ct);
        await chatting.CancelAsync();
        await chats;

        Assert.True(outcomes.Count >= 5, $"Only {outcomes.Count} chats ran during the switch.");
        Assert.All(outcomes, outcome => Assert.StartsWith("completed", outcome, StringComparison.Ordinal));
        var agent = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}", Ct);
        Assert.Equal(second["id"]!.ToString(), agent!["active_deployment_id"]!.ToString());
    }

    [Fact]
    public async Task KilledContainer_IsRestarted_AndTheRestartShows()
    {
        var agentId = await CreateAgentAsync();
        var deployment = await WaitForStatusAsync(agentId, await DeployPlainAsync(agentId), "running");
        var container = await ContainerOfAsync(deployment);
        using var docker = new TestDocker();

        await docker.Client.Containers.KillContainerAsync(container, new Docker.DotNet.Models.ContainerKillParameters { Signal = "SIGKILL" }, Ct);

        var restarted = await WaitForAsync(agentId, deployment, d => d["restart_count"]!.GetValue<int>() >= 1 && d["status"]!.ToString() == "running");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await HangarStack.WaitForAsync(async () =>
        {
            try
            {
                return (await http.GetAsync($"{restarted["url"]}/_agent/health", Ct)).IsSuccessStatusCode ? "healthy" : null;
            }
            catch (HttpRequestException)
            {
                return null;
            }
        });
        Assert.True((await docker.InspectAsync(container, Ct))!.State!.Running);
        Assert.StartsWith("tick 0", await ChatAsync(agentId, "still there?"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CrashingEntrypoint_EndsFailed_WithItsLastOutput()
    {
        var agentId = await CreateAgentAsync();
        var deployment = await DeployPlainAsync(agentId, """{"AGENT_MODE":"crash"}""");

        var failed = await WaitForStatusAsync(agentId, deployment, "failed");

        var error = failed["error"]!.ToString();
        Assert.Contains("exited with code 3 before it became healthy", error, StringComparison.Ordinal);
        Assert.Contains("plain agent: crashing on purpose", error, StringComparison.Ordinal);
        using var docker = new TestDocker();
        await HangarStack.WaitForAsync(async () =>
            (await docker.ContainersAsync($"{Hangar.Deployer.Runtimes.DockerRuntime.DeploymentLabel}={deployment["id"]}", Ct)).Count == 0 ? "gone" : null);
    }

    [Fact]
    public async Task RestartedDeployer_AdoptsTheRunningContainer_WithoutRestartingIt()
    {
        var agentId = await CreateAgentAsync();
        var deployment = await WaitForStatusAsync(agentId, await DeployPlainAsync(agentId), "running");
        var container = await ContainerOfAsync(deployment);
        using var docker = new TestDocker();
        var before = (await docker.InspectAsync(container, Ct))!;

        stack.DockerDeployer.Kill();
        await stack.DockerDeployer.WaitForExitAsync(Ct);
        stack.DockerDeployer = await stack.StartDeployerAsync("docker", "deployer-docker-2");

        // Once the dead replica's lease expires, the new one holds the deployment and finds its container as it was.
        var owner = await HangarStack.WaitForAsync(async () =>
        {
            var leaseOwner = await ScalarAsync($"select lease_owner from deployments where id = '{deployment["id"]}'");
            return leaseOwner is string name && name.StartsWith("deployer-docker-2", StringComparison.Ordinal) ? name : null;
        });
        Assert.StartsWith("deployer-docker-2", owner, StringComparison.Ordinal);
        await Task.Delay(1000, Ct);
        var after = (await docker.InspectAsync(container, Ct))!;
        Assert.True(after.State!.Running);
        Assert.Equal(before.State!.StartedAt, after.State.StartedAt);
        var current = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/deployments/{deployment["id"]}", Ct);
        Assert.Equal("running", current!["status"]!.ToString());
        Assert.Equal(0, current["restart_count"]!.GetValue<int>());
        Assert.StartsWith("tick 0", await ChatAsync(agentId, "adopted?"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task HungAgent_StopsAnsweringHealth_AndIsReplaced()
    {
        var agentId = await CreateAgentAsync();
        var deployment = await WaitForStatusAsync(agentId, await DeployPlainAsync(agentId), "running");
        var container = await ContainerOfAsync(deployment);

        // The agent's only thread blocks: the container runs, but nothing answers. The run in flight ends when it goes.
        var (_, send) = await stack.StartChatAsync("hang forever", agentId);
        var hungRun = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded, timeout: TimeSpan.FromSeconds(45));

        Assert.NotEqual("completed", hungRun[^1].Data["status"]!.ToString());
        await WaitForAsync(agentId, deployment, d => d["restart_count"]!.GetValue<int>() >= 1);
        using var docker = new TestDocker();
        await HangarStack.WaitForAsync(async () => await docker.InspectAsync(container, Ct) is null ? "removed" : null);

        // A new instance is recorded as the deployment starts it; running after that means it answered its health check.
        await HangarStack.WaitForAsync(() => ScalarAsync(
            $"select status from deployments where id = '{deployment["id"]}' and instance_id <> '{container}' and status = 'running'"), seconds: 45);
        Assert.StartsWith("tick 0", await ChatAsync(agentId, "answering again?"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AgentThatKeepsCrashingAfterItRan_EndsFailed()
    {
        var agentId = await CreateAgentAsync();
        var deployment = await WaitForStatusAsync(agentId, await DeployPlainAsync(agentId, """{"AGENT_MODE":"crash-later","CRASH_AFTER_MS":"2500"}"""), "running");

        // The engine restarts it (on-failure) until the limit; the Deployer counts every restart, then gives up.
        var failed = await WaitForStatusAsync(agentId, deployment, "failed", seconds: 90);

        var error = failed["error"]!.ToString();
        Assert.Contains("The agent kept crashing", error, StringComparison.Ordinal);
        Assert.Contains("plain agent: crashing later on purpose", error, StringComparison.Ordinal);
        Assert.True(failed["restart_count"]!.GetValue<int>() > HangarStack.MaxRestarts, failed.ToJsonString());
        using var docker = new TestDocker();
        await HangarStack.WaitForAsync(async () =>
            (await docker.ContainersAsync($"{Hangar.Deployer.Runtimes.DockerRuntime.DeploymentLabel}={deployment["id"]}", Ct)).Count == 0 ? "gone" : null);
    }

    [Fact]
    public async Task RestartedProcessDeployer_AdoptsTheRunningProcess()
    {
        var agentId = await CreateAgentAsync();
        var deployment = await WaitForStatusAsync(agentId, await DeployAsync(agentId, Bundles.TarGz(Bundles.Plain), "agent.mjs", "process"), "running");
        var instance = (string)(await ScalarAsync($"select instance_id from deployments where id = '{deployment["id"]}'"))!;

        stack.ProcessDeployer.Kill(entireProcessTree: false);
        await stack.ProcessDeployer.WaitForExitAsync(Ct);
        stack.ProcessDeployer = await stack.StartDeployerAsync("process", "deployer-process-2");

        await HangarStack.WaitForAsync(async () =>
            await ScalarAsync($"select lease_owner from deployments where id = '{deployment["id"]}'") is string name
                && name.StartsWith("deployer-process-2", StringComparison.Ordinal) ? name : null);
        await Task.Delay(1000, Ct);
        var current = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/deployments/{deployment["id"]}", Ct);
        Assert.Equal("running", current!["status"]!.ToString());
        Assert.Equal(0, current["restart_count"]!.GetValue<int>());
        Assert.Equal(instance, await ScalarAsync($"select instance_id from deployments where id = '{deployment["id"]}'"));
        Assert.StartsWith("tick 0", await ChatAsync(agentId, "adopted?"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BridgeNetwork_PublishesTheWrapperOnAFreeHostPort_AndChats()
    {
        // One Docker Deployer at a time: the host-network one steps aside (its leases released) for a bridge one.
        await stack.DockerDeployer.StopAsync(TimeSpan.FromSeconds(10));
        stack.DockerDeployer = await stack.StartDeployerAsync("docker", "deployer-bridge", new Dictionary<string, string> { ["Deployer__Docker__NetworkMode"] = "bridge" });
        try
        {
            var agentId = await CreateAgentAsync();
            var deployment = await WaitForStatusAsync(agentId, await DeployPlainAsync(agentId), "running");

            using var docker = new TestDocker();
            var container = (await docker.InspectAsync(await ContainerOfAsync(deployment), Ct))!;
            Assert.Equal($"http://127.0.0.1:{container.NetworkSettings!.Ports!["3000/tcp"]![0].HostPort}", deployment["url"]!.ToString());
            Assert.StartsWith("tick 0", await ChatAsync(agentId, "over the bridge"), StringComparison.Ordinal);
        }
        finally
        {
            await stack.DockerDeployer.StopAsync(TimeSpan.FromSeconds(10));
            stack.DockerDeployer = await stack.StartDeployerAsync("docker", "deployer-docker-3");
        }
    }

    [Fact]
    public async Task MissingImage_FailsTheStart_Readably()
    {
        using var docker = new TestDocker();
        var options = new Hangar.Deployer.DeployerOptions { Docker = { Image = "hangar/no-such-image:none", NetworkMode = "host" } };
        var runtime = new Hangar.Deployer.Runtimes.DockerRuntime(docker.Client, options, "test");
        var launch = new Hangar.Deployer.Runtimes.AgentLaunch(
            Guid.NewGuid(), Guid.NewGuid(), 1, "agent.mjs", Bundles.TarGz(("agent.mjs", "")), new Dictionary<string, string>(), Guid.NewGuid());

        var error = await Assert.ThrowsAsync<Hangar.Deployer.Runtimes.AgentStartException>(() => runtime.StartAsync(launch, Ct));

        Assert.Contains("The agent image 'hangar/no-such-image:none' is not on the Docker engine", error.Message, StringComparison.Ordinal);
    }

    private Task<Guid> CreateAgentAsync() => Deployments.CreateAgentAsync(stack.Api);

    private Task<JsonObject> DeployPlainAsync(Guid agentId, string? environment = null) =>
        DeployAsync(agentId, Bundles.TarGz(Bundles.Plain), "agent.mjs", "docker", environment);

    private Task<JsonObject> DeployAsync(Guid agentId, byte[] archive, string entrypoint, string runtime, string? environment = null) =>
        Deployments.UploadAsync(stack.Api, agentId, archive, entrypoint, runtime, environment);

    private Task<JsonObject> WaitForStatusAsync(Guid agentId, JsonObject deployment, string status, int seconds = 45) =>
        Deployments.WaitForStatusAsync(stack.Api, agentId, deployment, status, seconds);

    private Task<JsonObject> WaitForAsync(Guid agentId, JsonObject deployment, Func<JsonObject, bool> condition) =>
        Deployments.WaitForAsync(stack.Api, agentId, deployment, condition);

    private async Task<string> ContainerOfAsync(JsonObject deployment)
    {
        using var docker = new TestDocker();
        return Assert.Single(await docker.ContainersAsync($"{Hangar.Deployer.Runtimes.DockerRuntime.DeploymentLabel}={deployment["id"]}", Ct)).ID;
    }

    private Task<string> ChatAsync(Guid agentId, string text) => Deployments.ChatAsync(stack.Api, agentId, text);

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(stack.PostgresConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(Ct);
    }
}
