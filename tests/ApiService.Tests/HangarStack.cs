using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hangar.Contracts;
using Hangar.Testing;

namespace ApiService.Tests;

/// <summary>
/// The real stack for the end-to-end tests, started through the AppHost with Aspire.Hosting.Testing
/// (<see cref="Hangar.Testing.Stack"/>): PostgreSQL and Redis in containers, two StreamHub and two ApiService
/// replicas, plus a test agent, an OTLP receiver every service exports to, and a Docker and a process Deployer.
/// </summary>
[CollectionDefinition(nameof(HangarStack))]
public sealed class HangarStack : IAsyncLifetime, ICollectionFixture<HangarStack>
{
    public const string ApiKey = "hgr_test_bootstrap_key_0123456789abcdef";

    public Stack Stack { get; private set; } = null!;

    public TestAgent Agent { get; private set; } = null!;

    /// <summary>Where every service exports its traces, metrics and logs.</summary>
    public OtlpReceiver Otlp { get; private set; } = null!;

    public string PostgresConnectionString => Stack.PostgresConnectionString;

    /// <summary>Each ApiService replica's own URL, in a stable order: <c>ApiUrls[0]</c> serves users, <c>ApiUrls[1]</c> agents.</summary>
    public IReadOnlyList<string> ApiUrls => [.. Stack.Replicas("apiservice").Select(r => r.Url)];

    /// <summary>Each StreamHub replica's own URL.</summary>
    public IReadOnlyList<string> StreamHubUrls => [.. Stack.Replicas("streamhub").Select(r => r.Url)];

    /// <summary>StreamHub as the stream links name it: the proxy in front of its replicas.</summary>
    public string StreamHubUrl => Stack.StreamHubUrl;

    /// <summary>A client of ApiService's proxy with the API key (a replica's own URL changes when it is started again).</summary>
    public HttpClient Api { get; private set; } = null!;

    /// <summary>
    /// With <c>HANGAR_TEST_LOG=&lt;file&gt;</c>, appends the console output of the processes tests start to that file,
    /// each line prefixed with its process's name.
    /// </summary>
    public static Action<string, string>? Echo { get; } = EchoTo(Environment.GetEnvironmentVariable("HANGAR_TEST_LOG"));

    /// <summary>The settings of the shared stack: short timeouts and leases, deep queues, fast telemetry export.</summary>
    public static Dictionary<string, string> TestEnvironment() => new()
    {
        ["Hangar__Runs__AgentFirstByteTimeout"] = "00:00:02",
        ["Hangar__Runs__AgentIdleTimeout"] = "00:00:02",
        ["Hangar__Runs__LeaseDuration"] = "00:00:06",
        ["Hangar__Runs__HeartbeatInterval"] = "00:00:01",
        ["Hangar__MaxQueuedEvents"] = "20000",
        ["Hangar__StreamMaxLength"] = "200000",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        ["OTEL_BLRP_SCHEDULE_DELAY"] = "200",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
    };

    public async ValueTask InitializeAsync()
    {
        var agent = TestAgent.StartAsync();
        Otlp = await OtlpReceiver.StartAsync();
        Stack = await Stack.StartAsync(new StackOptions
        {
            ApiKey = ApiKey,
            OtlpEndpoint = Otlp.Url,
            Environment = TestEnvironment(),
            Echo = Echo,
        });
        Agent = await agent;
        Api = Client(Stack.ApiUrl, ApiKey);
        DockerDeployer = await StartDeployerAsync("docker", "deployer-docker");
        ProcessDeployer = await StartDeployerAsync("process", "deployer-process");
    }

    /// <summary>The Deployer running <c>docker</c> deployments (containers on the host network).</summary>
    public ChildProcess DockerDeployer { get; set; } = null!;

    /// <summary>The Deployer running <c>process</c> deployments.</summary>
    public ChildProcess ProcessDeployer { get; set; } = null!;

    /// <summary>The test Deployers' crash-loop limit, low so that a crash loop ends quickly.</summary>
    public const int MaxRestarts = 3;

    /// <summary>
    /// Starts a Deployer replica with short intervals and returns once it is healthy. Each gets its own lease name;
    /// the process runtime keeps its instances under the stack's data. <paramref name="settings"/> come last.
    /// </summary>
    public async Task<ChildProcess> StartDeployerAsync(string runtime, string name, IReadOnlyDictionary<string, string>? settings = null)
    {
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__postgres"] = Stack.PostgresConnectionString,
            ["ConnectionStrings__redis"] = Stack.RedisConnectionString,
            ["Hangar__SigningKey"] = Stack.SigningKey,
            ["services__apiservice__http__0"] = Stack.ApiUrl,
            ["Deployer__Runtime"] = runtime,
            ["Deployer__InstanceId"] = $"{name}-{Guid.NewGuid().ToString("N")[..6]}",
            // Agents run on the host's network, where the services listen on loopback.
            ["Deployer__Docker__NetworkMode"] = "host",
        };
        environment["Deployer__LeaseDuration"] = "00:00:03";
        environment["Deployer__ReconcileInterval"] = "00:00:00.500";
        environment["Deployer__HealthTimeout"] = "00:00:20";
        environment["Deployer__DrainTimeout"] = "00:00:15";
        environment["Deployer__StopTimeout"] = "00:00:03";
        environment["Deployer__MaxRestarts"] = MaxRestarts.ToString(CultureInfo.InvariantCulture);
        environment["Deployer__LivenessInterval"] = "00:00:01";
        environment["Deployer__LivenessTimeout"] = "00:00:02";
        environment["Deployer__Process__DataDirectory"] = _processData;
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        var port = FreePort.Next();
        var process = ServiceProcess.Start("Deployer", port, environment, Echo, name);
        _deployers.Add(process);
        await ServiceProcess.WaitHealthyAsync(process, $"http://127.0.0.1:{port}", CancellationToken.None);
        return process;
    }

    private readonly List<ChildProcess> _deployers = [];
    private readonly string _processData = Path.Combine(Path.GetTempPath(), "hangar-test-deployer-" + Guid.NewGuid().ToString("N")[..12]);

    public async ValueTask DisposeAsync()
    {
        foreach (var deployer in _deployers)
        {
            await deployer.DisposeAsync();
        }

        if (Directory.Exists(_processData))
        {
            StopProcessDeployments();
            Directory.Delete(_processData, recursive: true);
        }

        // Containers outlive their Deployer by design; this stack's go with it.
        await TestDocker.RemoveContainersAsync(Installation.Of(Stack.SigningKey));
        await Stack.DisposeAsync();
        await Agent.DisposeAsync();
        await Otlp.DisposeAsync();
        Api.Dispose();
    }

    /// <summary>
    /// A Deployer stopped on purpose stops the processes it started, not those it adopted from one the tests killed:
    /// this stack's instances go with it, found by the records the process runtime keeps.
    /// </summary>
    private void StopProcessDeployments()
    {
        foreach (var record in Directory.EnumerateFiles(_processData, "instance.json", SearchOption.AllDirectories))
        {
            try
            {
                using var wrapper = Process.GetProcessById(JsonNode.Parse(File.ReadAllText(record))!["Pid"]!.GetValue<int>());
                if (wrapper.ProcessName == "hangar-wrapper")
                {
                    wrapper.Kill(entireProcessTree: true);
                }
            }
            catch (ArgumentException)
            {
                // Already gone.
            }
        }
    }

    private static Action<string, string>? EchoTo(string? log)
    {
        if (string.IsNullOrEmpty(log))
        {
            return null;
        }

        var gate = new Lock();
        return (name, line) =>
        {
            lock (gate)
            {
                File.AppendAllText(log, $"[{name}] {line}\n");
            }
        };
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
    public async Task<Guid> CreateAgentAsync(HttpClient? api = null, string? url = null) => (await DeployAgentAsync(api, url)).AgentId;

    /// <summary>An agent with an external deployment at <paramref name="url"/>, and that deployment's token.</summary>
    public async Task<(Guid AgentId, Guid DeploymentId, string Token)> DeployAgentAsync(HttpClient? api = null, string? url = null)
    {
        api ??= Api;
        var created = await api.PostAsJsonAsync("/api/agents", new { name = "agent-" + Guid.NewGuid().ToString("N")[..8] });
        created.EnsureSuccessStatusCode();
        var agentId = (await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<Guid>();
        var response = await api.PostAsJsonAsync($"/api/agents/{agentId}/deployments", new { runtime = "external", url = url ?? Agent.Url });
        response.EnsureSuccessStatusCode();
        var deployment = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return (agentId, deployment["id"]!.GetValue<Guid>(), deployment["token"]!.GetValue<string>());
    }

    /// <summary>Creates an agent (at <paramref name="agentUrl"/>, the test agent by default) and a chat with one user message.</summary>
    public async Task<(Guid ChatId, JsonObject Response)> StartChatAsync(string text, string? agentUrl = null) =>
        await StartChatAsync(text, await CreateAgentAsync(url: agentUrl));

    /// <summary>A chat with one user message for an agent that exists, through <paramref name="api"/> (this stack's by default).</summary>
    public async Task<(Guid ChatId, JsonObject Response)> StartChatAsync(string text, Guid agentId, HttpClient? api = null)
    {
        var response = await (api ?? Api).PostAsJsonAsync("/api/chats", new { agent_id = agentId, messages = new[] { UserMessage(text) } });
        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new InvalidOperationException($"Creating a chat answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }

        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return (body["chat"]!["id"]!.GetValue<Guid>(), body);
    }

    /// <summary>A client of the agent API with an agent's token, on the second replica (the first serves users).</summary>
    public HttpClient AgentClient(string token)
    {
        var client = Client(ApiUrls[1], null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>Polls until <paramref name="probe"/> returns a value.</summary>
    public static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, int seconds = 20)
        where T : class
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition did not hold in time.");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The text of the chat's last message.</summary>
    public static async Task<string> LastReplyAsync(HttpClient api, Guid chatId)
    {
        var messages = await api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages");
        return messages![^1]!["parts"]!.AsArray().Single(p => p!["type"]!.ToString() == "text")!["text"]!.ToString();
    }

    public static object UserMessage(string text) => new { role = "user", parts = new[] { new { type = "text", text } } };

    /// <summary>The same stream (path, ticket, position) on another StreamHub: one replica, or the proxy.</summary>
    public static string OnHub(string hubUrl, string streamUrl) => hubUrl + new Uri(streamUrl).PathAndQuery;

    /// <summary>The stream URL (with its ticket) in a create-chat or send-message answer.</summary>
    public static string StreamUrl(JsonObject response) => response["stream"]!["url"]!.ToString();
}
