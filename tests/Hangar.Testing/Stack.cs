using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Docker.DotNet;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Hangar.Testing;

/// <summary>What a test or a benchmark asks of the stack it starts.</summary>
public sealed class StackOptions
{
    public int ApiReplicas { get; init; } = 2;

    public int StreamHubReplicas { get; init; } = 2;

    /// <summary>The AppHost's <c>AppHost:DeployerRuntime</c>; tests that deploy start Deployers of their own.</summary>
    public string DeployerRuntime { get; init; } = "none";

    /// <summary>More environment for every Hangar service, over what the AppHost sets (<c>Hangar__Runs__LeaseDuration</c>, <c>OTEL_*</c>).</summary>
    public Dictionary<string, string> Environment { get; init; } = [];

    /// <summary>Where the services export telemetry (OTLP over http/protobuf), since the testing builder runs no dashboard.</summary>
    public string? OtlpEndpoint { get; init; }

    /// <summary>
    /// The AppHost's <c>AppHost:Servers</c>: <c>binaries</c> by default (fast to start and restart, and no container
    /// proxies in the way of the benchmark's figures), <c>local-images</c> for the containers a user runs.
    /// </summary>
    public string Servers { get; init; } = "binaries";

    /// <summary>The bootstrap API key; a new one by default.</summary>
    public string ApiKey { get; init; } = "hgr_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

    /// <summary>Echoes every resource's console output, line by line with the resource's name.</summary>
    public Action<string, string>? Echo { get; init; }
}

/// <summary>
/// One process of a project resource: Aspire's replica name (<c>apiservice-abcdefgh</c>), the URL it listens on
/// itself (not the proxy in front of all replicas) and its process id.
/// </summary>
public sealed record Replica(string Resource, string Name, string Url, int Pid)
{
    /// <summary>What the replica's telemetry carries as <c>service.instance.id</c>: its name's suffix (Aspire's OTLP contract).</summary>
    public string InstanceId => Name[(Resource.Length + 1)..];
}

/// <summary>
/// The whole stack as the AppHost composes it, started with <see cref="DistributedApplicationTestingBuilder"/>: the
/// same resources, references and parameters as <c>dotnet run --project AppHost</c>, on random ports, with
/// PostgreSQL (fsync off) and Redis from the machine's binaries or in containers, their data in a temporary
/// directory or volumes of this stack's own, removed with it. Tests address
/// the proxy in front of a service's replicas or one replica, kill a replica and start it again as the dashboard
/// does, and restart PostgreSQL or Redis.
/// </summary>
public sealed class Stack : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    private readonly ConcurrentDictionary<string, ResourceEvent> _latest = new();
    private readonly ConcurrentDictionary<string, Task> _logWatchers = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly StackOptions _options;
    private readonly string _volumePrefix;
    private TaskCompletionSource _changed = NewSignal();
    private Task _watching = Task.CompletedTask;

    private Stack(DistributedApplication app, StackOptions options, string signingKey, string volumePrefix)
    {
        App = app;
        _options = options;
        SigningKey = signingKey;
        _volumePrefix = volumePrefix;
    }

    public DistributedApplication App { get; }

    public string ApiKey => _options.ApiKey;

    /// <summary>The key the services sign tokens and seal secrets with.</summary>
    public string SigningKey { get; }

    /// <summary>ApiService's proxy: DCP balances its connections over the replicas.</summary>
    public string ApiUrl => App.GetEndpoint("apiservice", "http").ToString().TrimEnd('/');

    /// <summary>StreamHub's proxy, the URL ApiService names in the stream links it hands out.</summary>
    public string StreamHubUrl => App.GetEndpoint("streamhub", "http").ToString().TrimEnd('/');

    public string PostgresConnectionString { get; private set; } = null!;

    public string RedisConnectionString { get; private set; } = null!;

    public static async Task<Stack> StartAsync(StackOptions options, CancellationToken cancellationToken = default)
    {
        var signingKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var volumePrefix = "hangar-test-" + Guid.NewGuid().ToString("N")[..8];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(
            [
                $"--AppHost:ApiReplicas={options.ApiReplicas}",
                $"--AppHost:StreamHubReplicas={options.StreamHubReplicas}",
                $"--AppHost:DeployerRuntime={options.DeployerRuntime}",
                $"--AppHost:Servers={options.Servers}",
                $"--AppHost:DataVolumePrefix={volumePrefix}",
                $"--AppHost:DataDirectory={Path.Combine(Path.GetTempPath(), volumePrefix)}",
                "--AppHost:FastUnsafePostgres=true",
                $"--Parameters:api-key={options.ApiKey}",
                $"--Parameters:signing-key={signingKey}",
            ],
            cancellationToken).ConfigureAwait(false);
        foreach (var project in builder.Resources.OfType<ProjectResource>().ToList())
        {
            builder.CreateResourceBuilder(project).WithEnvironment(context =>
            {
                if (options.OtlpEndpoint is { } otlp)
                {
                    context.EnvironmentVariables["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp;
                    context.EnvironmentVariables["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
                }

                foreach (var (key, value) in options.Environment)
                {
                    context.EnvironmentVariables[key] = value;
                }
            });
        }

        var app = await builder.BuildAsync(cancellationToken).ConfigureAwait(false);
        var stack = new Stack(app, options, signingKey, volumePrefix);
        try
        {
            stack._watching = stack.WatchAsync(stack._stopping.Token);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(StartTimeout);
            await app.StartAsync(timeout.Token).ConfigureAwait(false);
            await stack.WaitAllHealthyAsync(timeout.Token).ConfigureAwait(false);
            // The database is a resource of its own under a PostgreSQL container; the binaries' server names it itself.
            var database = app.Services.GetRequiredService<DistributedApplicationModel>().Resources.Any(r => r.Name == "hangar") ? "hangar" : "postgres";
            stack.PostgresConnectionString = (await app.GetConnectionStringAsync(database, cancellationToken).ConfigureAwait(false))!;
            stack.RedisConnectionString = (await app.GetConnectionStringAsync("redis", cancellationToken).ConfigureAwait(false))!;
            return stack;
        }
        catch
        {
            await stack.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The running replicas of a project resource, in a stable order (by replica name).</summary>
    public IReadOnlyList<Replica> Replicas(string resource) =>
        [.. _latest.Values.Where(e => e.Resource.Name == resource && e.Snapshot.State?.Text == KnownResourceStates.Running)
            .OrderBy(e => e.ResourceId, StringComparer.Ordinal)
            .Select(e => new Replica(resource, e.ResourceId, ReplicaUrl(e.Snapshot), PidOf(e.Snapshot)))];

    /// <summary>The replica whose process is <paramref name="pid"/> or an ancestor of it (Aspire may start a project through <c>dotnet run</c>).</summary>
    public Replica ReplicaOf(string resource, int pid)
    {
        var replicas = Replicas(resource);
        for (var current = pid; current > 1; current = ParentOf(current))
        {
            if (replicas.FirstOrDefault(r => r.Pid == current) is { } replica)
            {
                return replica;
            }
        }

        throw new InvalidOperationException($"Process {pid} belongs to no replica of {resource}: {string.Join(", ", replicas)}.");
    }

    /// <summary>
    /// The service's own process under a replica's process (which is <c>dotnet run</c>, as Aspire starts projects):
    /// the one named like the resource, as <c>ApiService</c> for <c>apiservice</c>.
    /// </summary>
    public static int ServiceProcessOf(Replica replica) =>
        ProcessTree(replica.Pid).First(pid => string.Equals(CommandOf(pid), replica.Resource, StringComparison.OrdinalIgnoreCase));

    /// <summary>The process ids of a replica's process and its descendants, for CPU and memory figures.</summary>
    public static IReadOnlyList<int> ProcessTree(int pid) =>
        [pid, .. Directory.EnumerateDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var id) ? id : 0)
            .Where(id => id > 1 && id != pid && IsDescendant(id, pid))];

    private static bool IsDescendant(int pid, int ancestor)
    {
        for (var current = ParentOf(pid); current > 1; current = ParentOf(current))
        {
            if (current == ancestor)
            {
                return true;
            }
        }

        return false;
    }

    private static string CommandOf(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").TrimEnd('\n');
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>The parent's id from <c>/proc/{pid}/stat</c> (the field after the parenthesised name), or 0 when the process is gone.</summary>
    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>A client of a service's proxy, or of one replica, with the API key.</summary>
    public HttpClient CreateHttpClient(string url)
    {
        var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        return client;
    }

    /// <summary>Kills a replica's processes with SIGKILL, as a crash would, and returns once Aspire sees it gone.</summary>
    public async Task KillAsync(Replica replica, CancellationToken cancellationToken = default)
    {
        using (var process = Process.GetProcessById(replica.Pid))
        {
            process.Kill(entireProcessTree: true);
        }

        await WaitForAsync(() => !IsRunning(replica.Name), $"{replica.Name} to stop", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts a stopped replica with Aspire's start command, as the dashboard's button does, and waits until it is healthy.</summary>
    public async Task<Replica> StartAsync(Replica replica, CancellationToken cancellationToken = default)
    {
        await ExecuteAsync(replica.Name, KnownResourceCommands.StartCommand, cancellationToken).ConfigureAwait(false);

        // A health status from before the kill can linger on the snapshot: the new process is the one to ask.
        await WaitForAsync(() => IsRunning(replica.Name) && PidOf(_latest[replica.Name].Snapshot) != replica.Pid, $"{replica.Name} to run again", cancellationToken).ConfigureAwait(false);
        var started = Replicas(replica.Resource).Single(r => r.Name == replica.Name);
        using var client = new HttpClient { BaseAddress = new Uri(started.Url), Timeout = TimeSpan.FromSeconds(5) };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        while (!await AnswersHealthyAsync(client, timeout.Token).ConfigureAwait(false))
        {
            await Task.Delay(100, timeout.Token).ConfigureAwait(false);
        }

        return Replicas(replica.Resource).Single(r => r.Name == replica.Name);
    }

    /// <summary>
    /// Shuts PostgreSQL (<c>postgres</c>) or Redis (<c>redis</c>) down as its own signal does (PostgreSQL's fast
    /// shutdown; Redis saves first), so its container exits; keeps it down for <paramref name="downFor"/>; then starts
    /// it again with Aspire's start command on its volume, and returns once it is healthy.
    /// </summary>
    /// <remarks>
    /// Aspire's stop command would do for the first half, but Redis's container runs it under <c>/bin/sh</c>, which
    /// does not pass SIGTERM on, so it takes Docker's whole ten-second grace to stop.
    /// </remarks>
    public async Task RestartServerAsync(string resource, TimeSpan downFor, CancellationToken cancellationToken = default)
    {
        var id = _latest.Values.Single(e => e.Resource.Name == resource).ResourceId;
        var (server, signal) = resource switch
        {
            "postgres" => ("postgres", Posix.SigInt),
            "redis" => ("redis-server", Posix.SigTerm),
            _ => throw new ArgumentException($"{resource} is neither postgres nor redis.", nameof(resource)),
        };
        var main = ProcessTree(await ServerPidAsync(resource).ConfigureAwait(false)).First(pid => CommandOf(pid) == server);
        if (Posix.Kill(main, signal) != 0)
        {
            throw new InvalidOperationException($"Could not signal {server} (process {main}) of {resource}.");
        }

        await WaitForAsync(() => !IsRunning(id), $"{resource} to stop", cancellationToken).ConfigureAwait(false);
        await Task.Delay(downFor, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(id, KnownResourceCommands.StartCommand, cancellationToken).ConfigureAwait(false);
        await WaitForAsync(() => IsHealthy(id), $"{resource} to be healthy", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The first process of PostgreSQL or Redis as the host sees it: the executable's, or the container's first
    /// process; the server and its children are in its tree, for CPU and memory figures.
    /// </summary>
    public async Task<int> ServerPidAsync(string resource)
    {
        var snapshot = _latest.Values.Single(e => e.Resource.Name == resource).Snapshot;
        if (snapshot.Properties.Any(p => p.Name == "executable.pid"))
        {
            return PidOf(snapshot);
        }

        var container = ContainerIdOf(resource);
        using var docker = new DockerClientBuilder().Build();
        var inspected = await docker.Containers.InspectContainerAsync(container).ConfigureAwait(false);
        return (int)inspected.State!.Pid;
    }

    /// <summary>The container that runs a resource now.</summary>
    public string ContainerIdOf(string resource) =>
        _latest.Values.Single(e => e.Resource.Name == resource).Snapshot.Properties.SingleOrDefault(p => p.Name == "container.id")?.Value?.ToString()
            ?? throw new InvalidOperationException($"{resource} runs in no container.");

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _watching.ConfigureAwait(false);
        await Task.WhenAll(_logWatchers.Values).ConfigureAwait(false);
        await App.DisposeAsync().ConfigureAwait(false);
        await RemoveVolumesAsync().ConfigureAwait(false);
        if (Directory.Exists(Path.Combine(Path.GetTempPath(), _volumePrefix)))
        {
            Directory.Delete(Path.Combine(Path.GetTempPath(), _volumePrefix), recursive: true);
        }

        _stopping.Dispose();
    }

    private static async Task<bool> AnswersHealthyAsync(HttpClient client, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await client.GetAsync("/health", cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private async Task ExecuteAsync(string resourceId, string command, CancellationToken cancellationToken)
    {
        var result = await App.ResourceCommands.ExecuteCommandAsync(resourceId, command, cancellationToken).ConfigureAwait(false);
        if (!result.Success)
        {
            throw new InvalidOperationException($"{command} on {resourceId} failed: {result.Message}");
        }
    }

    private async Task WaitAllHealthyAsync(CancellationToken cancellationToken)
    {
        var expected = new Dictionary<string, int>
        {
            ["postgres"] = 1,
            ["redis"] = 1,
            ["apiservice"] = _options.ApiReplicas,
            ["streamhub"] = _options.StreamHubReplicas,
        };
        if (_options.DeployerRuntime is not "none")
        {
            expected["deployer"] = 1;
        }

        await WaitForAsync(
            () => expected.All(e => _latest.Values.Count(r => r.Resource.Name == e.Key && IsHealthy(r.ResourceId)) == e.Value),
            "every resource to be healthy: " + string.Join(", ", expected.Keys),
            cancellationToken).ConfigureAwait(false);
    }

    private bool IsRunning(string resourceId) =>
        _latest.TryGetValue(resourceId, out var e) && e.Snapshot.State?.Text == KnownResourceStates.Running;

    private bool IsHealthy(string resourceId) =>
        IsRunning(resourceId) && _latest[resourceId].Snapshot.HealthStatus == HealthStatus.Healthy;

    private async Task WaitForAsync(Func<bool> condition, string what, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(StartTimeout);
        while (!condition())
        {
            var changed = _changed.Task;
            try
            {
                await changed.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                var states = string.Join(", ", _latest.Values.OrderBy(e => e.ResourceId, StringComparer.Ordinal)
                    .Select(e => $"{e.ResourceId} {e.Snapshot.State?.Text} {e.Snapshot.HealthStatus}"));
                throw new TimeoutException($"Waited {StartTimeout.TotalMinutes:0} min for {what}. Resources: {states}");
            }
        }
    }

    /// <summary>Keeps the latest snapshot of every resource and replica, and echoes their logs when asked to.</summary>
    private async Task WatchAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var resourceEvent in App.ResourceNotifications.WatchAsync(stopping).ConfigureAwait(false))
            {
                _latest[resourceEvent.ResourceId] = resourceEvent;
                if (_options.Echo is { } echo)
                {
                    // Observed when the stack stops: each watcher ends with the stopping token.
                    _ = _logWatchers.GetOrAdd(resourceEvent.ResourceId, id => EchoLogsAsync(id, echo, stopping));
                }

                Interlocked.Exchange(ref _changed, NewSignal()).TrySetResult();
            }
        }
        catch (OperationCanceledException)
        {
            // The stack is stopping.
        }
    }

    private async Task EchoLogsAsync(string resourceId, Action<string, string> echo, CancellationToken stopping)
    {
        try
        {
            var logs = App.Services.GetRequiredService<ResourceLoggerService>();
            await foreach (var batch in logs.WatchAsync(resourceId).WithCancellation(stopping).ConfigureAwait(false))
            {
                foreach (var line in batch)
                {
                    echo(resourceId, line.Content);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The stack is stopping.
        }
        finally
        {
            // A replica started again gets a watcher of its own when its next snapshot comes.
            _logWatchers.TryRemove(resourceId, out _);
        }
    }

    private async Task RemoveVolumesAsync()
    {
        using var docker = new DockerClientBuilder().Build();
        var volumes = await docker.Volumes.ListAsync(cancellationToken: CancellationToken.None).ConfigureAwait(false);
        foreach (var volume in (volumes.Volumes ?? []).Where(v => v.Name.StartsWith(_volumePrefix, StringComparison.Ordinal)))
        {
            await docker.Volumes.RemoveAsync(volume.Name, force: true).ConfigureAwait(false);
        }
    }

    /// <summary>The URL a replica listens on, from the <c>ASPNETCORE_URLS</c> Aspire gave it.</summary>
    private static string ReplicaUrl(CustomResourceSnapshot snapshot) =>
        snapshot.EnvironmentVariables.Single(v => v.Name == "ASPNETCORE_URLS").Value!.Split(';')[0].TrimEnd('/');

    private static int PidOf(CustomResourceSnapshot snapshot) =>
        Convert.ToInt32(snapshot.Properties.Single(p => p.Name == "executable.pid").Value, System.Globalization.CultureInfo.InvariantCulture);

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
