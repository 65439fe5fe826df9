using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Hangar.AppHost.Resources;

namespace ApiService.Tests;

/// <summary>
/// The real stack for a test class: PostgreSQL, Redis, two ApiService replicas and a StreamHub as processes on
/// loopback ports, started the way the AppHost starts them, plus a test agent.
/// </summary>
public sealed class HangarStack : IAsyncLifetime
{
    public const string ApiKey = "hgr_test_bootstrap_key_0123456789abcdef";

    private readonly List<ChildProcess> _services = [];

    public PostgresServer Postgres { get; private set; } = null!;

    public RedisServer Redis { get; private set; } = null!;

    public TestAgent Agent { get; private set; } = null!;

    public List<string> ApiUrls { get; } = [];

    public string StreamHubUrl { get; private set; } = null!;

    public HttpClient Api { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var postgres = PostgresServer.StartAsync(fastUnsafe: true);
        var redis = RedisServer.StartAsync();
        Agent = await TestAgent.StartAsync();
        Postgres = await postgres;
        Redis = await redis;

        var streamHubPort = FreePort.Next();
        StreamHubUrl = $"http://127.0.0.1:{streamHubPort}";
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__postgres"] = Postgres.ConnectionString,
            ["ConnectionStrings__redis"] = Redis.ConnectionString,
            ["Hangar__SigningKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Hangar__BootstrapApiKey"] = ApiKey,
            ["services__streamhub__http__0"] = StreamHubUrl,
            ["Hangar__Runs__AgentFirstByteTimeout"] = "00:00:02",
            ["Hangar__Runs__AgentIdleTimeout"] = "00:00:02",
            ["Hangar__Runs__LeaseDuration"] = "00:00:03",
            ["Hangar__Runs__HeartbeatInterval"] = "00:00:01",
        };
        // HANGAR_TEST_LOG=<file> appends the services' console output to that file, each line prefixed with its service.
        Action<string, string>? echo = Environment.GetEnvironmentVariable("HANGAR_TEST_LOG") is { Length: > 0 } log
            ? (name, line) => { lock (_services) { File.AppendAllText(log, $"[{name}] {line}\n"); } }
            : null;
        _services.Add(ServiceProcess.Start("StreamHub", streamHubPort, environment, echo));
        for (var i = 0; i < 2; i++)
        {
            var port = FreePort.Next();
            ApiUrls.Add($"http://127.0.0.1:{port}");
            _services.Add(ServiceProcess.Start("ApiService", port, environment, echo, name: $"api-{i}"));
        }

        Api = Client(ApiUrls[0], ApiKey);
        foreach (var url in ApiUrls.Append(StreamHubUrl))
        {
            await WaitHealthyAsync(url);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var service in _services)
        {
            await service.DisposeAsync();
        }

        await Agent.DisposeAsync();
        await Redis.DisposeAsync();
        await Postgres.DisposeAsync();
        Api.Dispose();
    }

    public static HttpClient Client(string baseUrl, string? apiKey)
    {
        var client = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(30) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return client;
    }

    /// <summary>An agent whose deployment points at <paramref name="url"/> (the test agent by default).</summary>
    public async Task<Guid> CreateAgentAsync(HttpClient? api = null, string? url = null)
    {
        api ??= Api;
        var created = await api.PostAsJsonAsync("/api/agents", new { name = "agent-" + Guid.NewGuid().ToString("N")[..8] });
        created.EnsureSuccessStatusCode();
        var agentId = (await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<Guid>();
        var deployment = await api.PostAsJsonAsync($"/api/agents/{agentId}/deployments", new { runtime = "external", url = url ?? Agent.Url });
        deployment.EnsureSuccessStatusCode();
        return agentId;
    }

    private async Task WaitHealthyAsync(string url)
    {
        using var client = Client(url, null);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await client.GetAsync("/health")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
            }

            if (DateTime.UtcNow > deadline || _services.Any(s => s.HasExited))
            {
                throw new InvalidOperationException($"{url} did not become healthy:\n" + string.Join("\n---\n", _services.Select(s => s.Name + ":\n" + s.RecentOutput())));
            }

            await Task.Delay(100);
        }
    }
}
