using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hangar.AppHost.Publishing;
using Hangar.Testing;
using Hangar.Contracts;

namespace ApiService.Tests;

/// <summary>
/// The published compose file brought up on the local Docker engine, with every image built on this machine:
/// services on the agent image (it carries the .NET runtime), PostgreSQL and Redis from
/// <c>scripts/build-backing-images.sh</c>. The Blink SDK agent is deployed through the stack's own Deployer onto the
/// stack's network, chats through the published StreamHub and stores through ApiService, reached by name. In the
/// stack's collection so that it does not compete with the other whole-stack tests for the CPU.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class ComposeStackTests : IAsyncLifetime
{
    private readonly string _output = Directory.CreateTempSubdirectory("hangar-compose-").FullName;
    private readonly string _project = "hangar-test-" + Guid.NewGuid().ToString("N")[..8];
    private readonly int _apiPort = FreePort.Next();
    private readonly int _streamHubPort = FreePort.Next();
    private string _file = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Dictionary<string, string> ComposeEnvironment => new()
    {
        ["HANGAR_BASE_IMAGE"] = "hangar/agent:latest",
        ["POSTGRES_IMAGE"] = "hangar/postgres:15",
        ["REDIS_IMAGE"] = "hangar/redis:7",
        ["HANGAR_APISERVICE_PORT"] = _apiPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["HANGAR_STREAMHUB_PORT"] = _streamHubPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["HANGAR_NETWORK"] = _project,
    };

    public async ValueTask InitializeAsync()
    {
        _file = await ComposePublisher.WriteAsync(new PublishOptions { Output = _output, ImageTag = _project }, Ct);
        var (code, output) = await ComposeAsync(TimeSpan.FromMinutes(5), "up", "-d", "--build");
        Assert.True(code == 0, output);
    }

    public async ValueTask DisposeAsync()
    {
        if (!File.Exists(Path.Combine(_output, ".env")))
        {
            Directory.Delete(_output, recursive: true);
            return;
        }

        // The Deployer's agent containers sit on the stack's network, which compose removes last.
        var secrets = File.ReadAllLines(Path.Combine(_output, ".env")).Where(l => l.Contains('=', StringComparison.Ordinal))
            .ToDictionary(l => l[..l.IndexOf('=', StringComparison.Ordinal)], l => l[(l.IndexOf('=', StringComparison.Ordinal) + 1)..]);
        using (var docker = new TestDocker())
        {
            var installation = Installation.Of(secrets[PublishedStack.SigningKey]);
            foreach (var container in await docker.ContainersAsync($"{Installation.DockerLabel}={installation}"))
            {
                await docker.RemoveContainerAsync(container.ID);
            }
        }

        await ComposeAsync(TimeSpan.FromMinutes(2), "down", "--volumes", "--timeout", "5");
        await Command.RunAsync("docker", ["image", "rm", .. ((string[])["apiservice", "streamhub", "deployer"]).Select(s => $"hangar/{s}:{_project}")]);
        Directory.Delete(_output, recursive: true);
    }

    [Fact]
    public async Task ComposeStack_DeploysTheBlinkSdkAgent_OnItsNetwork_AndChatsThroughStreamHub()
    {
        var apiKey = File.ReadAllLines(Path.Combine(_output, ".env")).Single(l => l.StartsWith(PublishedStack.ApiKey + "=", StringComparison.Ordinal))[(PublishedStack.ApiKey.Length + 1)..];
        using var api = HangarStack.Client($"http://127.0.0.1:{_apiPort}", apiKey);
        try
        {
            await HangarStack.WaitForAsync(async () => await IsHealthyAsync(api) ? "healthy" : null, seconds: 120);
        }
        catch (TimeoutException)
        {
            Assert.Fail("ApiService did not become healthy. The stack's output:\n" + (await ComposeAsync(TimeSpan.FromSeconds(30), "logs", "--tail", "30")).Output);
        }

        var agentId = await Deployments.CreateAgentAsync(api, "composed");
        var deployment = await Deployments.UploadAsync(api, agentId, Bundles.TarGz(Bundles.BlinkEcho), "echo-agent.js", "docker");
        var running = await Deployments.WaitForStatusAsync(api, agentId, deployment, "running", seconds: 90);
        var deploymentId = deployment["id"]!.GetValue<Guid>();

        Assert.Equal($"http://hangar-deployment-{deploymentId:N}:3000", running["url"]!.ToString());
        var chat = await api.PostAsJsonAsync("/api/chats", new { agent_id = agentId }, Ct);
        var chatId = (await chat.Content.ReadFromJsonAsync<JsonObject>(Ct))!["chat"]!["id"];
        var stream = await api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}/stream", Ct);
        Assert.StartsWith($"http://localhost:{_streamHubPort}/", stream!["url"]!.ToString(), StringComparison.Ordinal);
        Assert.Equal("echo: hello from compose", await Deployments.ChatAsync(api, agentId, "hello from compose"));
        Assert.StartsWith("stored composed-value;", await Deployments.ChatAsync(api, agentId, "kv: composed-value"), StringComparison.Ordinal);
    }

    private static async Task<bool> IsHealthyAsync(HttpClient api)
    {
        try
        {
            return (await api.GetAsync("/health", Ct)).IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private async Task<(int Code, string Output)> ComposeAsync(TimeSpan timeout, params string[] args)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(timeout);
        return await Command.RunAsync("docker-compose", ["--project-name", _project, "--project-directory", _output, "-f", _file, .. args], ComposeEnvironment, cts.Token);
    }
}
