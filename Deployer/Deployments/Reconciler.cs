using System.Threading.Channels;
using Hangar.Deployer.Runtimes;
using Npgsql;

namespace Hangar.Deployer.Deployments;

/// <summary>
/// The reconcile loop: the deployments that should run (leased from PostgreSQL) against the instances that do
/// (found by their deployment's id). Each pass renews the leases and hands every deployment that needs something to
/// one task of its own, so a slow start never holds up the others:
/// <list type="bullet">
/// <item>pending: start an instance, wait for <c>/_agent/health</c>, then running (and active, for production; the
/// replaced deployment is stopped), or failed with the reason and the instance's last output;</item>
/// <item>running: an instance that died is restarted and the restart counted; too many restarts within the window,
/// and the deployment is failed; one that stops answering <c>/_agent/health</c> (hung) is replaced the same way; a
/// running instance found after a Deployer restart is adopted as it is;</item>
/// <item>instances of deployments stopped, failed or deleted: drained (steps in flight finish) and removed.</item>
/// </list>
/// A pass runs every <see cref="DeployerOptions.ReconcileInterval"/>, and at once when PostgreSQL notifies a change or
/// the runtime reports an instance that stopped.
/// </summary>
public sealed partial class Reconciler(
    IAgentRuntime runtime, DeploymentStore store, NpgsqlDataSource db, DeployerOptions options, IHttpClientFactory httpClients, ILogger<Reconciler> logger)
    : BackgroundService
{
    public const string HealthClient = "agent-health";
    private const int OutputLines = 20;

    private readonly string _owner = options.InstanceId ?? $"{Environment.MachineName}:{Environment.ProcessId}";
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Dictionary<Guid, Task> _work = [];
    private readonly Dictionary<Guid, Queue<DateTimeOffset>> _restarts = [];
    private readonly Dictionary<Guid, int> _engineRestarts = [];
    private readonly Dictionary<Guid, (DateTimeOffset ProbedAt, int Failures)> _liveness = [];
    private readonly Lock _gate = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LogStarted(_owner, runtime.Name);
        var listener = ListenAsync(stoppingToken);
        var watcher = WatchAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PassAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogPassFailed(ex);
            }

            using var interval = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            interval.CancelAfter(options.ReconcileInterval);
            try
            {
                await _wake.Reader.ReadAsync(interval.Token);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                // The interval passed without a notification.
            }
        }

        Task[] pending;
        lock (_gate)
        {
            pending = [.. _work.Values];
        }

        await Task.WhenAll(pending.Append(listener).Append(watcher)).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ContinueWith(_ => { }, CancellationToken.None);
        await store.ReleaseAsync(_owner, CancellationToken.None);
    }

    /// <summary>One pass: renew and take leases, then give each deployment and each orphaned instance what it needs.</summary>
    internal async Task PassAsync(CancellationToken ct)
    {
        var leased = await store.LeaseAsync(_owner, options.LeaseDuration, runtime.Name, ct);
        var instances = (await runtime.ListAsync(ct)).ToLookup(i => i.DeploymentId);
        foreach (var deployment in leased)
        {
            Run(deployment.Id, () => HandleAsync(deployment, [.. instances[deployment.Id]], ct));
        }

        var mine = leased.Select(d => d.Id).ToHashSet();
        var others = instances.Select(g => g.Key).Where(id => !mine.Contains(id)).ToList();
        if (others.Count == 0)
        {
            return;
        }

        var statuses = await store.StatusesAsync(others, ct);
        foreach (var id in others)
        {
            // Running elsewhere (another replica's lease) or about to be leased: not this pass's business.
            var status = statuses.GetValueOrDefault(id);
            if (status is null or "stopped" or "failed")
            {
                Run(id, () => RetireAsync([.. instances[id]], drain: status == "stopped", ct));
            }
        }
    }

    private void Run(Guid deploymentId, Func<Task> work)
    {
        lock (_gate)
        {
            if (_work.TryGetValue(deploymentId, out var running) && !running.IsCompleted)
            {
                return;
            }

            _work[deploymentId] = Task.Run(async () =>
            {
                try
                {
                    await work();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogDeploymentFailed(deploymentId, ex);
                }
            });
        }
    }

    private async Task HandleAsync(ManagedDeployment deployment, List<AgentInstance> instances, CancellationToken ct)
    {
        if (deployment.Status == "pending")
        {
            // An instance of a pending deployment is left from a start that did not get recorded: start afresh.
            foreach (var stale in instances)
            {
                await RemoveAsync(stale, ct);
            }

            await LaunchAsync(deployment, ct);
            return;
        }

        var instance = instances.FirstOrDefault(i => i.Id == deployment.InstanceId) ?? instances.FirstOrDefault();
        foreach (var extra in instances.Where(i => i != instance))
        {
            await RemoveAsync(extra, ct);
        }

        if (instance is null)
        {
            if (deployment.Status == "running")
            {
                LogRestarting(deployment.Id, "its instance is gone");
                await CountRestartAsync(deployment, 1, "(recreated)", ct);
            }

            await LaunchAsync(deployment, ct);
            return;
        }

        var state = await runtime.InspectAsync(instance, ct);
        if (deployment.Status == "starting" || (state.Running && instance.Url != deployment.Url))
        {
            await BecomeHealthyAsync(deployment, instance, ct);
            return;
        }

        if (await NoteEngineRestartsAsync(deployment, instance, state, ct))
        {
            return;
        }

        if (state.Running)
        {
            if (await IsHungAsync(deployment.Id, instance, ct))
            {
                LogRestarting(deployment.Id, $"it did not answer /_agent/health {options.LivenessFailures} times in a row");
                if (await CountRestartAsync(deployment, 1, instance.Id, ct, instance, state))
                {
                    await RemoveAsync(instance, ct);
                    await LaunchAsync(deployment, ct);
                }
            }

            return;
        }

        LogRestarting(deployment.Id, state.ExitCode is { } code ? $"it exited with code {code}" : "it stopped");
        if (!await CountRestartAsync(deployment, 1, instance.Id, ct, instance, state))
        {
            return;
        }

        try
        {
            await runtime.RestartAsync(instance, ct);
        }
        catch (AgentStartException)
        {
            await RemoveAsync(instance, ct);
            await LaunchAsync(deployment, ct);
            return;
        }

        await BecomeHealthyAsync(deployment, instance, ct);
    }

    /// <summary>Starts a new instance of the deployment: token, environment and bundle, then the health wait.</summary>
    private async Task LaunchAsync(ManagedDeployment deployment, CancellationToken ct)
    {
        var (tokenId, token) = await store.MintTokenAsync(deployment, ct);
        var environment = await store.ReadEnvironmentAsync(deployment, ct);
        environment["BLINK_DEPLOYMENT_TOKEN"] = token;
        environment["INTERNAL_BLINK_API_SERVER_URL"] = options.ApiUrl!;
        environment["HANGAR_DEPLOYMENT_ID"] = deployment.Id.ToString();
        environment["HANGAR_AGENT_ID"] = deployment.AgentId.ToString();
        var bundle = await store.ReadBundleAsync(deployment, ct);
        AgentInstance instance;
        try
        {
            instance = await runtime.StartAsync(new AgentLaunch(deployment.Id, deployment.AgentId, deployment.Number, deployment.Entrypoint, bundle, environment, tokenId), ct);
        }
        catch (AgentStartException ex)
        {
            await store.RevokeTokenAsync(tokenId, ct);
            await FailAsync(deployment, ex.Message, null, ct);
            return;
        }

        if (!await store.MarkStartingAsync(deployment.Id, _owner, instance.Id, ct))
        {
            await RemoveAsync(instance, ct);
            return;
        }

        LogStarting(deployment.Id, instance.Id, instance.Url);
        lock (_gate)
        {
            _engineRestarts[deployment.Id] = 0;
        }

        await BecomeHealthyAsync(deployment, instance, ct);
    }

    /// <summary>
    /// Waits for <c>/_agent/health</c>; running once it answers. A first start that exits or times out fails the
    /// deployment; a restarted one is left to the next pass, which counts the crash.
    /// </summary>
    private async Task BecomeHealthyAsync(ManagedDeployment deployment, AgentInstance instance, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + options.HealthTimeout;
        var restartsBefore = (await runtime.InspectAsync(instance, ct)).Restarts;
        while (!await AnswersHealthAsync(instance, ct))
        {
            var state = await runtime.InspectAsync(instance, ct);
            if (deployment.Status == "running" && (!state.Running || DateTimeOffset.UtcNow > deadline))
            {
                return;
            }

            if (!state.Exists)
            {
                await FailAsync(deployment, "The instance disappeared before it became healthy.", null, ct);
                return;
            }

            if (!state.Running || state.Restarts > restartsBefore)
            {
                var how = state.ExitCode is { } code ? $"exited with code {code}" : "stopped";
                await FailAsync(deployment, $"The agent {how} before it became healthy{(state.Error is { } error ? $" ({error})" : "")}.", instance, ct);
                return;
            }

            if (DateTimeOffset.UtcNow > deadline)
            {
                await FailAsync(deployment, $"The agent did not answer /_agent/health within {options.HealthTimeout.TotalSeconds:0} s.", instance, ct);
                return;
            }

            await Task.Delay(50, ct);
        }

        if (await store.MarkRunningAsync(deployment.Id, _owner, instance.Url, ct))
        {
            LogRunning(deployment.Id, instance.Url);
        }
    }

    /// <summary>
    /// Probes a running instance's <c>/_agent/health</c> once per <see cref="DeployerOptions.LivenessInterval"/>; true
    /// when <see cref="DeployerOptions.LivenessFailures"/> probes in a row went unanswered: the agent is alive but hung.
    /// </summary>
    private async Task<bool> IsHungAsync(Guid deploymentId, AgentInstance instance, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        lock (_gate)
        {
            if (_liveness.TryGetValue(deploymentId, out var last) && now - last.ProbedAt < options.LivenessInterval)
            {
                return false;
            }
        }

        var answered = await AnswersHealthAsync(instance, ct);
        lock (_gate)
        {
            var failures = answered ? 0 : _liveness.GetValueOrDefault(deploymentId).Failures + 1;
            _liveness[deploymentId] = failures >= options.LivenessFailures ? default : (DateTimeOffset.UtcNow, failures);
            return failures >= options.LivenessFailures;
        }
    }

    /// <summary>One <c>/_agent/health</c> request, within <see cref="DeployerOptions.LivenessTimeout"/>: false when not listening (yet), failing or silent.</summary>
    private async Task<bool> AnswersHealthAsync(AgentInstance instance, CancellationToken ct)
    {
        try
        {
            using var response = await httpClients.CreateClient(HealthClient).GetAsync($"{instance.Url}/_agent/health", ct);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Counts the restarts the engine made by itself since the last look; true when that made the deployment fail.</summary>
    private async Task<bool> NoteEngineRestartsAsync(ManagedDeployment deployment, AgentInstance instance, InstanceState state, CancellationToken ct)
    {
        int seen;
        lock (_gate)
        {
            // An instance first seen (adopted) sets the baseline: restarts made while no Deployer watched are not counted.
            seen = _engineRestarts.TryGetValue(deployment.Id, out var known) ? known : state.Restarts;
            _engineRestarts[deployment.Id] = state.Restarts;
        }

        return state.Restarts > seen && !await CountRestartAsync(deployment, state.Restarts - seen, instance.Id, ct, instance, state);
    }

    /// <summary>Records restarts; when they pass the limit within the window, fails the deployment and returns false.</summary>
    private async Task<bool> CountRestartAsync(
        ManagedDeployment deployment, int restarts, string instanceId, CancellationToken ct, AgentInstance? instance = null, InstanceState? state = null)
    {
        var now = DateTimeOffset.UtcNow;
        int recent;
        lock (_gate)
        {
            if (!_restarts.TryGetValue(deployment.Id, out var times))
            {
                _restarts[deployment.Id] = times = new Queue<DateTimeOffset>();
            }

            for (var i = 0; i < restarts; i++)
            {
                times.Enqueue(now);
            }

            while (times.Peek() < now - options.CrashLoopWindow)
            {
                times.Dequeue();
            }

            recent = times.Count;
        }

        await store.RecordRestartsAsync(deployment.Id, _owner, restarts, instanceId, ct);
        if (recent <= options.MaxRestarts)
        {
            return true;
        }

        var exit = state?.ExitCode is { } code ? $" (last exit code {code})" : "";
        await FailAsync(deployment, $"The agent kept crashing: {recent} restarts within {options.CrashLoopWindow.TotalMinutes:0} min{exit}.", instance, ct);
        return false;
    }

    /// <summary>Fails the deployment with the reason and the instance's last output, then removes the instance.</summary>
    private async Task FailAsync(ManagedDeployment deployment, string reason, AgentInstance? instance, CancellationToken ct)
    {
        if (instance is not null)
        {
            var output = await runtime.RecentOutputAsync(instance, OutputLines, ct);
            if (output.Count > 0)
            {
                reason += $" Its last output:\n{string.Join('\n', output)}";
            }
        }

        LogFailed(deployment.Id, reason);
        await store.MarkFailedAsync(deployment.Id, _owner, reason, ct);
        if (instance is not null)
        {
            await RemoveAsync(instance, ct);
        }

        Forget(deployment.Id);
    }

    /// <summary>Drops what was remembered of a deployment that no longer runs here.</summary>
    private void Forget(Guid deploymentId)
    {
        lock (_gate)
        {
            _restarts.Remove(deploymentId);
            _engineRestarts.Remove(deploymentId);
            _liveness.Remove(deploymentId);
        }
    }

    /// <summary>Instances of a deployment that should no longer run: a replaced one is drained first, so its steps in flight finish.</summary>
    private async Task RetireAsync(List<AgentInstance> instances, bool drain, CancellationToken ct)
    {
        var deploymentId = instances[0].DeploymentId;
        if (drain)
        {
            var deadline = DateTimeOffset.UtcNow + options.DrainTimeout;
            while (await store.StepsInFlightAsync(deploymentId, ct) > 0 && DateTimeOffset.UtcNow < deadline)
            {
                await Task.Delay(250, ct);
            }
        }

        foreach (var instance in instances)
        {
            await RemoveAsync(instance, ct);
        }

        Forget(deploymentId);
        LogRetired(deploymentId, instances.Count);
    }

    private async Task RemoveAsync(AgentInstance instance, CancellationToken ct)
    {
        await runtime.RemoveAsync(instance, options.StopTimeout, ct);
        if (instance.TokenId is { } tokenId)
        {
            await store.RevokeTokenAsync(tokenId, ct);
        }
    }

    /// <summary>Wakes the loop on every <c>hangar_deployments</c> notification; reconnects when the connection drops.</summary>
    private async Task ListenAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = await db.OpenConnectionAsync(ct);
                connection.Notification += (_, _) => _wake.Writer.TryWrite(true);
                await using (var listen = new NpgsqlCommand("listen hangar_deployments", connection))
                {
                    await listen.ExecuteNonQueryAsync(ct);
                }

                while (!ct.IsCancellationRequested)
                {
                    await connection.WaitAsync(ct);
                }
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                LogListenFailed(ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ContinueWith(_ => { }, CancellationToken.None);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Wakes the loop whenever an instance stops; resumes watching when the runtime's stream breaks (an engine restart).</summary>
    private async Task WatchAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await foreach (var _ in runtime.StoppedAsync(ct))
                {
                    _wake.Writer.TryWrite(true);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogWatchFailed(ex.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), ct).ContinueWith(_ => { }, CancellationToken.None);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watching for stopped instances failed ({Reason}); retrying")]
    private partial void LogWatchFailed(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deployer {Owner} reconciles {Runtime} deployments")]
    private partial void LogStarted(string owner, string runtime);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deployment {Deployment}: starting {Instance} at {Url}")]
    private partial void LogStarting(Guid deployment, string instance, string url);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deployment {Deployment}: running at {Url}")]
    private partial void LogRunning(Guid deployment, string url);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deployment {Deployment}: restarting, {Why}")]
    private partial void LogRestarting(Guid deployment, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deployment {Deployment} failed: {Reason}")]
    private partial void LogFailed(Guid deployment, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deployment {Deployment}: removed {Count} instance(s)")]
    private partial void LogRetired(Guid deployment, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Deployment {Deployment}: the reconcile step failed; the next pass retries")]
    private partial void LogDeploymentFailed(Guid deployment, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "A reconcile pass failed; the next one retries")]
    private partial void LogPassFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for deployment changes failed ({Reason}); retrying")]
    private partial void LogListenFailed(string reason);
}
