using Hangar.AppHost.Resources;
using Hangar.Contracts;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Hangar.AppHost;

/// <summary>
/// The whole Hangar stack as one object: PostgreSQL and Redis (embedded or external), then the StreamHub and ApiService
/// replicas, each started once what it needs answers, wired with Aspire's environment contracts
/// (<c>ConnectionStrings__*</c>, <c>services__*</c>, <c>OTEL_*</c>). <c>dotnet run --project AppHost</c> runs it; tests
/// start it the same way with <see cref="StartAsync"/> and dispose it when done, which stops everything in reverse
/// order. Each resource's output goes to <c>{data}/logs/{name}.log</c>; a service that crashes is restarted.
/// </summary>
public sealed class HangarApp : IAsyncDisposable
{
    /// <summary>The name the app's own reports (restarts, choices) carry in the output and the logs.</summary>
    public const string ReportName = "apphost";

    private static readonly TimeSpan MaxRestartDelay = TimeSpan.FromSeconds(30);

    private readonly List<IAsyncDisposable> _stopInReverse = [];
    private readonly List<HangarResource> _resources = [];
    private readonly Dictionary<string, Supervisor> _supervisors = [];
    private readonly string? _temporaryDirectory;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Action<string, string> _output;
    private readonly bool _restartCrashed;

    private HangarApp(string? temporaryDirectory, ResourceLogs logs, Action<string, string>? echo, bool restartCrashed)
    {
        _temporaryDirectory = temporaryDirectory;
        _restartCrashed = restartCrashed;
        Logs = logs;
        _output = (name, line) =>
        {
            logs.Write(name, line);
            echo?.Invoke(name, line);
        };
    }

    /// <summary>Where each resource's output is kept.</summary>
    public ResourceLogs Logs { get; }

    public IReadOnlyList<HangarResource> Resources => _resources;

    /// <summary>The embedded PostgreSQL, or null when an external one is used.</summary>
    public PostgresServer? Postgres { get; private set; }

    /// <summary>The embedded Redis, or null when an external one is used.</summary>
    public RedisServer? Redis { get; private set; }

    public string PostgresConnectionString { get; private set; } = null!;

    public string RedisConnectionString { get; private set; } = null!;

    public IReadOnlyList<string> ApiUrls => [.. _resources.Where(r => r.Kind == "ApiService").Select(r => r.Endpoint)];

    public IReadOnlyList<string> StreamHubUrls => [.. _resources.Where(r => r.Kind == "StreamHub").Select(r => r.Endpoint)];

    /// <summary>The first StreamHub: the one whose URL ApiService puts in the stream links it hands out.</summary>
    public string StreamHubUrl => StreamHubUrls[0];

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
        var app = new HangarApp(temporary, new ResourceLogs(Path.Combine(dataDirectory, "logs")), echo, options.RestartCrashedServices);
        try
        {
            await app.StartResourcesAsync(options, dataDirectory, cancellationToken).ConfigureAwait(false);
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
        await _stopping.CancelAsync().ConfigureAwait(false);
        for (var i = _stopInReverse.Count - 1; i >= 0; i--)
        {
            await _stopInReverse[i].DisposeAsync().ConfigureAwait(false);
        }

        _stopInReverse.Clear();
        if (_temporaryDirectory is not null && DeployerRuntime == "docker")
        {
            await RemoveContainersAsync().ConfigureAwait(false);
        }

        Logs.Dispose();
        _stopping.Dispose();
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

    private async Task StartResourcesAsync(HangarAppOptions options, string dataDirectory, CancellationToken cancellationToken)
    {
        var postgresMode = options.PostgresConnectionString is null
            ? await ChooseServerModeAsync("Postgres", options.Postgres, PostgresServer.IsInstalled, options.PostgresImage, cancellationToken).ConfigureAwait(false)
            : "external";
        var redisMode = options.RedisConnectionString is null
            ? await ChooseServerModeAsync("Redis", options.Redis, RedisServer.IsInstalled, options.RedisImage, cancellationToken).ConfigureAwait(false)
            : "external";
        await StartServersAsync(options, dataDirectory, postgresMode, redisMode, cancellationToken).ConfigureAwait(false);

        PostgresConnectionString = options.PostgresConnectionString ?? Postgres?.ConnectionString ?? PostgresContainer!.Endpoint;
        RedisConnectionString = options.RedisConnectionString ?? Redis?.ConnectionString ?? RedisContainer!.Endpoint;
        _resources.Add(new HangarResource("postgres", "PostgreSQL", PostgresConnectionString, Postgres?.ServerProcess) { Container = PostgresContainer?.Name });
        _resources.Add(new HangarResource("redis", "Redis", RedisConnectionString, Redis?.ServerProcess) { Container = RedisContainer?.Name });

        ApiKey = options.ApiKey ?? KeptSecret(dataDirectory, "api-key", GeneratedSecrets.ApiKey);
        var streamHubPort = options.StreamHubPort ?? FreePort.Next();
        var streamHubUrl = $"http://127.0.0.1:{streamHubPort}";
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__postgres"] = PostgresConnectionString,
            ["ConnectionStrings__redis"] = RedisConnectionString,
            ["Hangar__SigningKey"] = options.SigningKey ?? KeptSecret(dataDirectory, "signing-key", GeneratedSecrets.SigningKey),
            ["Hangar__BootstrapApiKey"] = ApiKey,
            ["services__streamhub__http__0"] = streamHubUrl,
        };
        if (options.OtlpEndpoint is { Length: > 0 } otlp)
        {
            environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp;
            environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = options.OtlpProtocol;
        }
        else if (options.Dashboard && await CanRunAsync(options.DashboardImage, cancellationToken).ConfigureAwait(false))
        {
            await StartDashboardAsync(options, dataDirectory, environment, cancellationToken).ConfigureAwait(false);
        }

        foreach (var (key, value) in options.Environment)
        {
            environment[key] = value;
        }

        DeployerRuntime = await ChooseDeployerRuntimeAsync(options.DeployerRuntime, cancellationToken).ConfigureAwait(false);
        Report($"PostgreSQL: {Describe(Postgres?.DataDirectory, PostgresContainer, options.PostgresImage)}; " +
            $"Redis: {Describe(Redis is null ? null : Path.Combine(dataDirectory, "redis"), RedisContainer, options.RedisImage)}; Deployer: {DeployerRuntime}" +
            $"{(options.DeployerRuntime == "auto" ? " (auto: " + (DeployerRuntime == "docker" ? "the Docker engine answers)" : "no Docker engine answers)") : "")}; " +
            $"telemetry: {(options.OtlpEndpoint is { Length: > 0 } endpoint ? "OTLP to " + endpoint
                : DashboardLoginUrl is not null ? "the Aspire dashboard, " + DashboardLoginUrl
                : $"none (set OTEL_EXPORTER_OTLP_ENDPOINT, or put {options.DashboardImage} on the Docker engine for a dashboard)")}");
        if (DeployerRuntime != "none")
        {
            environment["Hangar__Deployments__DefaultRuntime"] = DeployerRuntime;
        }

        ServiceEnvironment = environment;
        for (var i = 0; i < options.StreamHubReplicas; i++)
        {
            var port = i == 0 ? streamHubPort : options.StreamHubPort is { } first ? first + i : FreePort.Next();
            var name = options.StreamHubReplicas == 1 ? "streamhub" : $"streamhub-{i}";
            StartService(name, "StreamHub", port, WithResourceEnvironment(environment, options, name));
        }

        for (var i = 0; i < options.ApiReplicas; i++)
        {
            var port = options.ApiPort is { } first ? first + i : FreePort.Next();
            var name = options.ApiReplicas == 1 ? "apiservice" : $"apiservice-{i}";
            StartService(name, "ApiService", port, WithResourceEnvironment(environment, options, name));
        }

        await WaitAllHealthyAsync(cancellationToken).ConfigureAwait(false);
        if (DeployerRuntime != "none")
        {
            // The services run on loopback, so containers share the host's network to reach ApiService.
            StartService("deployer", "Deployer", FreePort.Next(), DeployerEnvironment(DeployerRuntime, $"deployer-{Environment.ProcessId}"));
            await WaitAllHealthyAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static Dictionary<string, string> WithResourceEnvironment(Dictionary<string, string> environment, HangarAppOptions options, string name)
    {
        var own = new Dictionary<string, string>(environment);
        foreach (var (key, value) in options.ResourceEnvironment.GetValueOrDefault(name) ?? [])
        {
            own[key] = value;
        }

        return own;
    }

    /// <summary>The Aspire dashboard's login URL (with its browser token) when the app started one.</summary>
    public string? DashboardLoginUrl { get; private set; }

    /// <summary>
    /// Starts the Aspire dashboard and points every service's OTLP export at its HTTP endpoint, with the API key it
    /// demands. The browser token and the key are new on every start.
    /// </summary>
    private async Task StartDashboardAsync(HangarAppOptions options, string dataDirectory, Dictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var frontendPort = options.DashboardPort ?? FreePort.Next();
        var (grpcPort, httpPort) = options.DashboardPort is { } port ? (port + 1, port + 2) : (FreePort.Next(), FreePort.Next());
        var (browserToken, otlpApiKey) = (GeneratedSecrets.Password(), GeneratedSecrets.Password());
        var dashboard = await ServerContainer.StartDashboardAsync(
            options.DashboardImage, dataDirectory, frontendPort, grpcPort, httpPort, browserToken, otlpApiKey, _output, cancellationToken).ConfigureAwait(false);
        _stopInReverse.Add(dashboard);
        _resources.Add(new HangarResource("dashboard", "Dashboard", dashboard.Endpoint, null) { Container = dashboard.Name });
        DashboardLoginUrl = $"{dashboard.Endpoint}/login?t={browserToken}";
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{httpPort}";
        environment["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        environment["OTEL_EXPORTER_OTLP_HEADERS"] = $"x-otlp-api-key={otlpApiKey}";
    }

    private static async Task<bool> CanRunAsync(string image, CancellationToken cancellationToken) =>
        await WhyImageCannotRunAsync(image, cancellationToken).ConfigureAwait(false) is null;

    /// <summary>Null when the Docker engine answers and has the image; otherwise why not.</summary>
    private static async Task<string?> WhyImageCannotRunAsync(string image, CancellationToken cancellationToken)
    {
        using var docker = await ServerContainer.ConnectAsync(cancellationToken).ConfigureAwait(false);
        if (docker is null)
        {
            return "no Docker engine answers";
        }

        try
        {
            await docker.Images.InspectImageAsync(image, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (DockerImageNotFoundException)
        {
            return $"the Docker engine has no image {image}";
        }
    }

    /// <summary>The embedded PostgreSQL as a container, or null when it runs from binaries or is external.</summary>
    public ServerContainer? PostgresContainer { get; private set; }

    /// <summary>The embedded Redis as a container, or null when it runs from binaries or is external.</summary>
    public ServerContainer? RedisContainer { get; private set; }

    /// <summary>
    /// Starts PostgreSQL and Redis side by side, each from its binaries or as a container; both are stopped last,
    /// Redis first. When one fails, the other is stopped before the failure is thrown.
    /// </summary>
    private async Task StartServersAsync(HangarAppOptions options, string dataDirectory, string postgresMode, string redisMode, CancellationToken cancellationToken)
    {
        var temporary = _temporaryDirectory is not null;
        Task<IAsyncDisposable?> postgres = postgresMode switch
        {
            "binaries" => Started(PostgresServer.StartAsync(Path.Combine(dataDirectory, "postgres"), options.PostgresPort, options.FastUnsafePostgres, _output, cancellationToken)),
            "container" => Started(ServerContainer.StartPostgresAsync(
                options.PostgresImage, dataDirectory, options.PostgresPort ?? FreePort.Next(), KeptSecret(dataDirectory, "postgres-password", GeneratedSecrets.Password),
                temporary, options.FastUnsafePostgres, _output, cancellationToken)),
            _ => Task.FromResult<IAsyncDisposable?>(null),
        };
        Task<IAsyncDisposable?> redis = redisMode switch
        {
            "binaries" => Started(RedisServer.StartAsync(options.RedisPort, _output, Path.Combine(dataDirectory, "redis"), cancellationToken)),
            "container" => Started(ServerContainer.StartRedisAsync(options.RedisImage, dataDirectory, options.RedisPort ?? FreePort.Next(), temporary, _output, cancellationToken)),
            _ => Task.FromResult<IAsyncDisposable?>(null),
        };
        try
        {
            await Task.WhenAll(postgres, redis).ConfigureAwait(false);
        }
        finally
        {
            foreach (var server in (Task<IAsyncDisposable?>[])[postgres, redis])
            {
                if (server.IsCompletedSuccessfully && server.Result is { } started)
                {
                    _stopInReverse.Add(started);
                }
            }
        }

        Postgres = postgres.Result as PostgresServer;
        PostgresContainer = postgres.Result as ServerContainer;
        Redis = redis.Result as RedisServer;
        RedisContainer = redis.Result as ServerContainer;
    }

    private static async Task<IAsyncDisposable?> Started<T>(Task<T> starting)
        where T : IAsyncDisposable => await starting.ConfigureAwait(false);

    /// <summary>
    /// <c>binaries</c> or <c>container</c> for an embedded server: as configured, or for <c>auto</c> the binaries when
    /// installed and a container when the Docker engine answers and has the image.
    /// </summary>
    private static async Task<string> ChooseServerModeAsync(string server, string wanted, bool installed, string image, CancellationToken cancellationToken)
    {
        switch (wanted)
        {
            case "binaries" or "container":
                return wanted;
            case not "auto":
                throw new InvalidOperationException($"AppHost:{server} is '{wanted}': use binaries, container or auto.");
            case "auto" when installed:
                return "binaries";
        }

        if (await WhyImageCannotRunAsync(image, cancellationToken).ConfigureAwait(false) is not { } why)
        {
            return "container";
        }

        throw new InvalidOperationException(
            $"{server} is not installed and {why}. Install it (scripts/prerequisites.sh), give AppHost:{server}Image an image the engine has " +
            $"(scripts/build-backing-images.sh builds hangar/{server.ToLowerInvariant()}), or use a server of your own with AppHost:{server}ConnectionString.");
    }

    private static string Describe(string? binariesData, ServerContainer? container, string image) =>
        binariesData is not null ? $"embedded, data in {binariesData}"
        : container is not null ? $"container {container.Name} ({image}), data in volume {container.Volume}"
        : "external";

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
        using var docker = await ServerContainer.ConnectAsync(CancellationToken.None).ConfigureAwait(false)
            ?? throw new InvalidOperationException("No Docker engine answers: the agent containers cannot be removed.");
        var installation = Installation.Of(ServiceEnvironment["Hangar__SigningKey"]);
        var filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"{Installation.DockerLabel}={installation}"] = true } };
        foreach (var container in await docker.Containers.ListContainersAsync(new ContainersListParameters { All = true, Filters = filters }).ConfigureAwait(false))
        {
            await ServerContainer.RemoveContainerAsync(docker, container.ID, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<string> ChooseDeployerRuntimeAsync(string wanted, CancellationToken cancellationToken)
    {
        if (wanted != "auto")
        {
            return wanted;
        }

        using var docker = await ServerContainer.ConnectAsync(cancellationToken).ConfigureAwait(false);
        return docker is null ? "process" : "docker";
    }

    private Task WaitAllHealthyAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_resources.Where(r => r.Process is not null && r.Endpoint.StartsWith("http", StringComparison.Ordinal)).Select(r => WaitHealthyAsync(r, cancellationToken)));

    /// <summary>
    /// Starts a service and keeps it running. Its telemetry is named as Aspire names it: the project in lower case as
    /// <c>service.name</c> (every replica alike), the resource's name as <c>service.instance.id</c>.
    /// </summary>
    private void StartService(string name, string project, int port, Dictionary<string, string> environment)
    {
        var serviceEnvironment = new Dictionary<string, string>(environment)
        {
            ["OTEL_SERVICE_NAME"] = project.ToLowerInvariant(),
            ["OTEL_RESOURCE_ATTRIBUTES"] = $"service.instance.id={name}",
        };
        ChildProcess Start() => ServiceProcess.Start(project, port, serviceEnvironment, _output, name);
        var resource = new HangarResource(name, project, $"http://127.0.0.1:{port}", Start());
        _resources.Add(resource);
        var supervisor = new Supervisor(this, resource, Start);
        _supervisors[name] = supervisor;
        _stopInReverse.Add(supervisor);
    }

    private void Report(string line) => _output(ReportName, line);

    /// <summary>
    /// Kills a service's process with SIGKILL, as a crash or <c>kill -9</c> would, and keeps it down until
    /// <see cref="StartServiceAsync"/>: for tests of what the rest of the stack does meanwhile.
    /// </summary>
    public Task KillServiceAsync(string resourceName) => SupervisorOf(resourceName).KillAndHoldAsync();

    /// <summary>Starts a service that <see cref="KillServiceAsync"/> keeps down, and returns once it answers <c>/health</c>.</summary>
    public async Task StartServiceAsync(string resourceName, CancellationToken cancellationToken = default)
    {
        await SupervisorOf(resourceName).ResumeAsync().ConfigureAwait(false);
        await WaitHealthyAsync(this[resourceName], cancellationToken).ConfigureAwait(false);
    }

    private Supervisor SupervisorOf(string resourceName) => _supervisors.TryGetValue(resourceName, out var supervisor)
        ? supervisor
        : throw new ArgumentException($"{resourceName} is not a service of this app.", nameof(resourceName));

    /// <summary>
    /// Restarts a service whose process exits while the app runs, 1 s after the first crash and up to 30 s apart
    /// after more, and reports each; a service killed on purpose stays down until resumed. Stopping it stops the
    /// current process.
    /// </summary>
    private sealed class Supervisor : IAsyncDisposable
    {
        private readonly HangarResource _resource;
        private readonly Task _watching;
        private TaskCompletionSource? _resume;
        private TaskCompletionSource? _resumed;

        public Supervisor(HangarApp app, HangarResource resource, Func<ChildProcess> start)
        {
            _resource = resource;
            _watching = WatchAsync(app, start, app._stopping.Token);
        }

        public async Task KillAndHoldAsync()
        {
            _resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _resource.Process!.Kill();
            await _resource.Process.WaitForExitAsync().ConfigureAwait(false);
        }

        /// <summary>Lets a held service start again; completes once its new process runs.</summary>
        public Task ResumeAsync()
        {
            var resume = _resume ?? throw new InvalidOperationException($"{_resource.Name} was not killed with KillServiceAsync.");
            _resumed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            resume.TrySetResult();
            return _resumed.Task;
        }

        private async Task WatchAsync(HangarApp app, Func<ChildProcess> start, CancellationToken stopping)
        {
            var delay = TimeSpan.FromSeconds(1);
            try
            {
                while (true)
                {
                    var started = DateTime.UtcNow;
                    await _resource.Process!.WaitForExitAsync(stopping).ConfigureAwait(false);
                    if (_resume is { } resume)
                    {
                        app.Report($"{_resource.Name} was killed (exit code {_resource.Process.ExitCode}); it stays down until started");
                        await resume.Task.WaitAsync(stopping).ConfigureAwait(false);
                        _resume = null;
                        await _resource.Process.DisposeAsync().ConfigureAwait(false);
                        _resource.Process = start();
                        app.Report($"{_resource.Name} started again");
                        _resumed!.TrySetResult();
                        continue;
                    }

                    if (!app._restartCrashed)
                    {
                        app.Report($"{_resource.Name} exited with code {_resource.Process.ExitCode}");
                        return;
                    }

                    delay = DateTime.UtcNow - started > MaxRestartDelay * 2 ? TimeSpan.FromSeconds(1) : delay;
                    app.Report($"{_resource.Name} exited with code {_resource.Process.ExitCode}; restarting it in {delay.TotalSeconds:0} s");
                    await Task.Delay(delay, stopping).ConfigureAwait(false);
                    await _resource.Process.DisposeAsync().ConfigureAwait(false);
                    _resource.Process = start();
                    _resource.Restarts++;
                    delay = delay * 2 < MaxRestartDelay ? delay * 2 : MaxRestartDelay;
                }
            }
            catch (OperationCanceledException)
            {
                // The app is stopping.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _watching.ConfigureAwait(false);
            await _resource.Process!.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>An HTTP client for a service by its resource name, with the API key: <c>app.CreateHttpClient("apiservice")</c>.</summary>
    public HttpClient CreateHttpClient(string resourceName)
    {
        var resource = this[resourceName];
        if (!resource.Endpoint.StartsWith("http", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{resourceName} is a {resource.Kind} server, not an HTTP service.", nameof(resourceName));
        }

        var client = new HttpClient { BaseAddress = new Uri(resource.Endpoint) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ApiKey);
        return client;
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
