using System.Buffers.Text;
using System.Security.Cryptography;
using Hangar.AppHost.Resources;
using Hangar.Contracts;
using Hangar.Docker;

namespace Hangar.AppHost;

/// <summary>One resource of a running <see cref="HangarApp"/>: a name, what it is, and where it is reached.</summary>
public sealed record HangarResource(string Name, string Kind, string Endpoint, ChildProcess? Process);

/// <summary>
/// The whole Hangar stack as one object: PostgreSQL and Redis (embedded or external), then StreamHub and the ApiService
/// replicas, each started once what it needs answers, wired with Aspire's environment contracts
/// (<c>ConnectionStrings__*</c>, <c>services__*</c>). <c>dotnet run --project AppHost</c> runs it; tests start it the
/// same way with <see cref="StartAsync"/> and dispose it when done, which stops everything in reverse order.
/// </summary>
public sealed class HangarApp : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _stopInReverse = [];
    private readonly List<HangarResource> _resources = [];
    private readonly string? _temporaryDirectory;

    private HangarApp(string? temporaryDirectory) => _temporaryDirectory = temporaryDirectory;

    public IReadOnlyList<HangarResource> Resources => _resources;

    /// <summary>The embedded PostgreSQL, or null when an external one is used.</summary>
    public PostgresServer? Postgres { get; private set; }

    /// <summary>The embedded Redis, or null when an external one is used.</summary>
    public RedisServer? Redis { get; private set; }

    public string PostgresConnectionString { get; private set; } = null!;

    public string RedisConnectionString { get; private set; } = null!;

    public IReadOnlyList<string> ApiUrls => [.. _resources.Where(r => r.Kind == "ApiService").Select(r => r.Endpoint)];

    public string StreamHubUrl => _resources.Single(r => r.Kind == "StreamHub").Endpoint;

    /// <summary>The key every <c>/api</c> call can use.</summary>
    public string ApiKey { get; private set; } = null!;

    /// <summary>The environment every service got: connection strings, URLs, keys and <see cref="HangarAppOptions.Environment"/>.</summary>
    public IReadOnlyDictionary<string, string> ServiceEnvironment { get; private set; } = null!;

    public HangarResource this[string name] => _resources.Single(r => r.Name == name);

    /// <summary>
    /// Starts the stack and returns when every service answers <c>/health</c>. <paramref name="echo"/> receives each
    /// line a resource prints, with the resource's name.
    /// </summary>
    public static async Task<HangarApp> StartAsync(HangarAppOptions options, Action<string, string>? echo = null, CancellationToken cancellationToken = default)
    {
        var temporary = options.DataDirectory is null ? Path.Combine(Path.GetTempPath(), "hangar-" + Guid.NewGuid().ToString("N")[..12]) : null;
        var dataDirectory = Path.GetFullPath(options.DataDirectory ?? temporary!);
        Directory.CreateDirectory(dataDirectory);
        var app = new HangarApp(temporary);
        try
        {
            await app.StartResourcesAsync(options, dataDirectory, echo, cancellationToken).ConfigureAwait(false);
            return app;
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops the services, then Redis and PostgreSQL: the reverse of the start order.</summary>
    public async ValueTask DisposeAsync()
    {
        for (var i = _stopInReverse.Count - 1; i >= 0; i--)
        {
            await _stopInReverse[i].DisposeAsync().ConfigureAwait(false);
        }

        _stopInReverse.Clear();
        if (_temporaryDirectory is not null && DeployerRuntime == "docker")
        {
            await RemoveContainersAsync().ConfigureAwait(false);
        }

        if (_temporaryDirectory is not null && Directory.Exists(_temporaryDirectory))
        {
            try
            {
                Directory.Delete(_temporaryDirectory, recursive: true);
            }
            catch (IOException)
            {
                // A temporary directory left behind is harmless.
            }
        }
    }

    private async Task StartResourcesAsync(HangarAppOptions options, string dataDirectory, Action<string, string>? echo, CancellationToken cancellationToken)
    {
        var postgres = options.PostgresConnectionString is null
            ? PostgresServer.StartAsync(Path.Combine(dataDirectory, "postgres"), options.PostgresPort, options.FastUnsafePostgres, echo, cancellationToken)
            : null;
        var redis = options.RedisConnectionString is null
            ? RedisServer.StartAsync(options.RedisPort, echo, Path.Combine(dataDirectory, "redis"), cancellationToken)
            : null;
        if (postgres is not null)
        {
            Postgres = await Track(postgres).ConfigureAwait(false);
        }

        if (redis is not null)
        {
            Redis = await Track(redis).ConfigureAwait(false);
        }

        PostgresConnectionString = options.PostgresConnectionString ?? Postgres!.ConnectionString;
        RedisConnectionString = options.RedisConnectionString ?? Redis!.ConnectionString;
        _resources.Add(new HangarResource("postgres", "PostgreSQL", PostgresConnectionString, Postgres?.ServerProcess));
        _resources.Add(new HangarResource("redis", "Redis", RedisConnectionString, Redis?.ServerProcess));

        ApiKey = options.ApiKey ?? KeptSecret(dataDirectory, "api-key", () => "hgr_" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)));
        var streamHubPort = options.StreamHubPort ?? FreePort.Next();
        var streamHubUrl = $"http://127.0.0.1:{streamHubPort}";
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__postgres"] = PostgresConnectionString,
            ["ConnectionStrings__redis"] = RedisConnectionString,
            ["Hangar__SigningKey"] = options.SigningKey ?? KeptSecret(dataDirectory, "signing-key", () => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))),
            ["Hangar__BootstrapApiKey"] = ApiKey,
            ["services__streamhub__http__0"] = streamHubUrl,
        };
        foreach (var (key, value) in options.Environment)
        {
            environment[key] = value;
        }

        DeployerRuntime = await ChooseDeployerRuntimeAsync(options.DeployerRuntime, cancellationToken).ConfigureAwait(false);
        if (DeployerRuntime != "none")
        {
            environment["Hangar__Deployments__DefaultRuntime"] = DeployerRuntime;
        }

        ServiceEnvironment = environment;
        StartService("streamhub", "StreamHub", streamHubPort, environment, echo);
        for (var i = 0; i < options.ApiReplicas; i++)
        {
            var port = options.ApiPort is { } first ? first + i : FreePort.Next();
            StartService(options.ApiReplicas == 1 ? "apiservice" : $"apiservice-{i}", "ApiService", port, environment, echo);
        }

        await WaitAllHealthyAsync(cancellationToken).ConfigureAwait(false);
        if (DeployerRuntime != "none")
        {
            // The services run on loopback, so containers share the host's network to reach ApiService.
            StartService("deployer", "Deployer", FreePort.Next(), DeployerEnvironment(DeployerRuntime, $"deployer-{Environment.ProcessId}"), echo);
            await WaitAllHealthyAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The Deployer's runtime as chosen at start: <c>docker</c>, <c>process</c> or <c>none</c>.</summary>
    public string DeployerRuntime { get; private set; } = "none";

    /// <summary>
    /// What a Deployer of this stack needs: the services' environment, ApiService's URL for the agents, and the runtime.
    /// Docker containers use host networking, since every service listens on loopback.
    /// </summary>
    public Dictionary<string, string> DeployerEnvironment(string runtime, string instanceId) => new(ServiceEnvironment)
    {
        ["services__apiservice__http__0"] = ApiUrls[0],
        ["Deployer__Runtime"] = runtime,
        ["Deployer__InstanceId"] = instanceId,
        ["Deployer__Docker__NetworkMode"] = "host",
    };

    /// <summary>
    /// Removes this installation's agent containers. Containers outlive their Deployer by design (a restarted one
    /// adopts them), but a temporary stack's signing key, and with it the installation, is gone once it stops.
    /// </summary>
    public async Task RemoveContainersAsync()
    {
        using var docker = await DockerClient.ConnectAsync().ConfigureAwait(false);
        var installation = Installation.Of(ServiceEnvironment["Hangar__SigningKey"]);
        foreach (var container in await docker.ListContainersAsync([$"{Installation.DockerLabel}={installation}"]).ConfigureAwait(false))
        {
            await docker.RemoveContainerAsync(container.Id).ConfigureAwait(false);
        }
    }

    private static async Task<string> ChooseDeployerRuntimeAsync(string wanted, CancellationToken cancellationToken)
    {
        if (wanted != "auto")
        {
            return wanted;
        }

        try
        {
            using var docker = await DockerClient.ConnectAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return "docker";
        }
        catch (DockerException)
        {
            return "process";
        }
    }

    private Task WaitAllHealthyAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_resources.Where(r => r.Endpoint.StartsWith("http", StringComparison.Ordinal)).Select(r => WaitHealthyAsync(r, cancellationToken)));

    private async Task<T> Track<T>(Task<T> starting)
        where T : IAsyncDisposable
    {
        var resource = await starting.ConfigureAwait(false);
        _stopInReverse.Add(resource);
        return resource;
    }

    private void StartService(string name, string project, int port, Dictionary<string, string> environment, Action<string, string>? echo)
    {
        var process = ServiceProcess.Start(project, port, environment, echo, name);
        _stopInReverse.Add(process);
        _resources.Add(new HangarResource(name, project, $"http://127.0.0.1:{port}", process));
    }

    /// <summary>Waits for a service's <c>/health</c>; throws with its last output when it exits first or takes over 60 s.</summary>
    public static async Task WaitHealthyAsync(HangarResource resource, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { BaseAddress = new Uri(resource.Endpoint), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await client.GetAsync("/health", cancellationToken).ConfigureAwait(false)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (resource.Process!.HasExited || DateTime.UtcNow > deadline)
            {
                var why = resource.Process.HasExited ? $"exited with code {resource.Process.ExitCode}" : "did not become healthy within 60 s";
                throw new InvalidOperationException($"{resource.Name} {why}. Its last output:\n{resource.Process.RecentOutput()}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A secret generated on the first start and read back on every later one.</summary>
    private static string KeptSecret(string dataDirectory, string name, Func<string> generate)
    {
        var path = Path.Combine(dataDirectory, name);
        if (File.Exists(path))
        {
            return File.ReadAllText(path).Trim();
        }

        var secret = generate();
        File.WriteAllText(path, secret);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        return secret;
    }
}
