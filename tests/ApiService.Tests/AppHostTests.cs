using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Hangar.AppHost;
using Hangar.AppHost.Resources;

namespace ApiService.Tests;

/// <summary>
/// The AppHost's composition as the stack runs it: a client per resource by name, each resource's output in its log
/// file, OTLP export naming each replica, a crashed service restarted and reported, and PostgreSQL and Redis run as
/// containers when asked.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class AppHostTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CreateHttpClient_ByResourceName_CarriesTheApiKey()
    {
        using var api = stack.App.CreateHttpClient("apiservice-1");

        using var agents = await api.GetAsync("/api/agents", Ct);

        Assert.Equal(HttpStatusCode.OK, agents.StatusCode);
        Assert.Equal(stack.App.ApiUrls[1] + "/", api.BaseAddress!.ToString());
        Assert.Throws<ArgumentException>(() => stack.App.CreateHttpClient("postgres"));
    }

    [Fact]
    public async Task Telemetry_FromEveryService_NamesItsResource()
    {
        // In OTLP protobuf a resource attribute is its key, then four bytes of framing, then its string value.
        foreach (var name in (string[])["apiservice-0", "apiservice-1", "streamhub-0", "streamhub-1"])
        {
            var attribute = new Regex($@"service\.instance\.id[\s\S]{{4}}{name}(?![-\w])");
            await HangarStack.WaitForAsync(() => Task.FromResult(
                stack.Otlp.Exports("metrics").Any(e => attribute.IsMatch(Encoding.Latin1.GetString(e.Body))) ? name : null));
        }
    }

    [Fact]
    public async Task CrashedService_IsRestarted_Reported_AndLogged()
    {
        var streamhub = stack.App["streamhub-0"];
        var crashed = streamhub.Process!;
        var restartsBefore = streamhub.Restarts;

        crashed.Kill();

        await HangarStack.WaitForAsync(() => Task.FromResult(streamhub.Restarts > restartsBefore ? "restarted" : null));
        Assert.NotSame(crashed, streamhub.Process);
        await HangarApp.WaitHealthyAsync(streamhub, Ct);
        Assert.Equal("running", streamhub.State);
        var (_, send) = await stack.StartChatAsync("after the restart");
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
        Assert.Equal("completed", events[^1].Data["status"]!.ToString());

        var report = await File.ReadAllTextAsync(stack.App.Logs.PathOf(HangarApp.ReportName), Ct);
        Assert.Contains("streamhub-0 exited with code 137; restarting it in 1 s", report, StringComparison.Ordinal);
        var lines = await File.ReadAllLinesAsync(stack.App.Logs.PathOf("streamhub-0"), Ct);
        Assert.True(lines.Count(l => l.Contains("Now listening on", StringComparison.Ordinal)) >= 2, string.Join('\n', lines.TakeLast(10)));
    }

    [Fact]
    public async Task EmbeddedServers_AsContainers_RunTheStack_AndKeepTheirDataBetweenRuns()
    {
        var data = Directory.CreateTempSubdirectory("hangar-containers-").FullName;
        var options = new HangarAppOptions
        {
            DataDirectory = data,
            Postgres = "container",
            Redis = "container",
            PostgresImage = "hangar/postgres:15",
            RedisImage = "hangar/redis:7",
            DeployerRuntime = "none",
            FastUnsafePostgres = true,
        };
        string[] volumes = [ServerContainer.NameFor("postgres", data), ServerContainer.NameFor("redis", data)];
        using var docker = new TestDocker();
        try
        {
            Guid agentId;
            await using (var app = await HangarApp.StartAsync(options, HangarStack.Echo, Ct))
            {
                Assert.Equal("container container", $"{app["postgres"].State} {app["redis"].State}");
                Assert.Equal(volumes, (string[])[app["postgres"].Container!, app["redis"].Container!]);
                using var api = app.CreateHttpClient("apiservice");
                agentId = (await stack.DeployAgentAsync(api)).AgentId;
                var created = await api.PostAsJsonAsync("/api/chats", new { agent_id = agentId, messages = new[] { HangarStack.UserMessage("in containers") } }, Ct);
                created.EnsureSuccessStatusCode();
                var stream = HangarStack.StreamUrl((await created.Content.ReadFromJsonAsync<JsonObject>(Ct))!);
                var events = await SseClient.ReadUntilAsync(stream, SseClient.RunEnded);
                Assert.Equal("completed", events[^1].Data["status"]!.ToString());
                Assert.Contains("ready to accept connections", await File.ReadAllTextAsync(app.Logs.PathOf("postgres"), Ct), StringComparison.Ordinal);
            }

            Assert.Empty(await docker.ContainersAsync(ServerContainer.Label, Ct));
            Assert.True(await docker.VolumeExistsAsync(volumes[0], Ct));

            await using (var again = await HangarApp.StartAsync(options, HangarStack.Echo, Ct))
            {
                using var api = again.CreateHttpClient("apiservice");
                Assert.Equal(HttpStatusCode.OK, (await api.GetAsync($"/api/agents/{agentId}", Ct)).StatusCode);
            }
        }
        finally
        {
            foreach (var volume in volumes)
            {
                await docker.RemoveVolumeAsync(volume, Ct);
            }

            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task EmbeddedServer_WithAnUnknownMode_IsRefusedByName()
    {
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(
            () => HangarApp.StartAsync(new HangarAppOptions { Redis = "sideways", DeployerRuntime = "none" }, cancellationToken: Ct));

        Assert.Equal("AppHost:Redis is 'sideways': use binaries, container or auto.", refused.Message);
    }

    [Fact]
    public async Task WithoutAnOtlpEndpoint_TheDashboardIsStarted_AndEveryServiceExportsToItWithItsKey()
    {
        // The real dashboard image needs a registry; the stand-in is configured and spoken to the same way.
        var image = "hangar/test-dashboard:" + Guid.NewGuid().ToString("N")[..8];
        var context = Path.Combine(ServiceProcess.RepositoryRoot, "tests", "images", "dashboard-standin");
        var (code, output) = await Command.RunAsync("docker", ["build", "-q", "-t", image, context], cancellationToken: Ct);
        Assert.True(code == 0, output);
        using var docker = new TestDocker();
        try
        {
            var options = new HangarAppOptions
            {
                DashboardImage = image,
                DeployerRuntime = "none",
                FastUnsafePostgres = true,
                Environment = { ["OTEL_METRIC_EXPORT_INTERVAL"] = "500" },
            };
            await using (var app = await HangarApp.StartAsync(options, HangarStack.Echo, Ct))
            {
                Assert.Equal("container", app["dashboard"].State);
                using var browser = new HttpClient();
                Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync(app.DashboardLoginUrl, Ct)).StatusCode);
                Assert.Equal(HttpStatusCode.Unauthorized, (await browser.GetAsync(app["dashboard"].Endpoint + "/login?t=guessed", Ct)).StatusCode);
                Assert.Contains(
                    "telemetry: the Aspire dashboard, " + app.DashboardLoginUrl,
                    await File.ReadAllTextAsync(app.Logs.PathOf(HangarApp.ReportName), Ct),
                    StringComparison.Ordinal);

                var received = await HangarStack.WaitForAsync(async () =>
                {
                    var now = await browser.GetFromJsonAsync<JsonObject>(app["dashboard"].Endpoint + "/received", Ct);
                    var instances = now!["instances"]!.AsArray().Select(i => i!.ToString()).ToList();
                    return instances.Contains("apiservice") && instances.Contains("streamhub") ? now : null;
                });
                Assert.True(received["metrics"]!.GetValue<int>() > 0);
                Assert.Equal(0, received["refused"]!.GetValue<int>());
            }

            Assert.Empty(await docker.ContainersAsync(ServerContainer.Label, Ct));
        }
        finally
        {
            await Command.RunAsync("docker", ["image", "rm", image], cancellationToken: Ct);
        }
    }
}
