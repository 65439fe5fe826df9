using System.Collections.Concurrent;
using Hangar.Redis;
using Microsoft.Extensions.Options;

namespace Hangar.ApiService.Runs;

/// <summary>
/// Claims runs and executes them, up to <see cref="RunOptions.MaxConcurrentRuns"/> at once. The replica that accepts a
/// message creates its run already claimed when it has room (<see cref="OwnerWithRoom"/>); a run that waits behind
/// another, or that its replica had no room for, is claimed by whichever worker a signal wakes first, and polling is
/// the safety net. Every replica runs one; the lease decides who runs what.
/// </summary>
internal sealed partial class RunWorker(RunStore store, RunExecutor executor, RunSignals signals, IOptions<RunOptions> options, ILogger<RunWorker> logger)
    : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, Task> _running = new();
    private CancellationToken _stopping = new(canceled: true);

    /// <summary>Identifies this replica in <c>runs.lease_owner</c>.</summary>
    public string OwnerId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>
    /// This replica's <see cref="OwnerId"/> when it can take one more run, for a run created already claimed by it
    /// (then <see cref="Start(RunLease, StepContext)"/> it); null when it is full or stopping.
    /// </summary>
    public string? OwnerWithRoom => _stopping.IsCancellationRequested || _running.Count >= options.Value.MaxConcurrentRuns ? null : OwnerId;

    /// <summary>Runs a run this replica claimed outside the worker's loop, together with its first step.</summary>
    public void Start(RunLease lease, StepContext firstStep) => Start(lease, firstStep, _stopping);

    /// <summary>Wakes the workers of every replica for a run that waits; failing that, it waits for their next poll.</summary>
    public void WakeOtherReplicas() => _ = WakeOtherReplicasAsync();

    private async Task WakeOtherReplicasAsync()
    {
        try
        {
            await signals.WakeWorkersAsync();
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisServerException)
        {
            LogWakeFailed(logger, ex.Message);
        }
    }

    private void Start(RunLease lease, StepContext? firstStep, CancellationToken stoppingToken)
    {
        LogClaimed(logger, lease.RunId, lease.Epoch);
        _running[lease.RunId] = RunAsync(lease, firstStep, stoppingToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (_running.Count < options.Value.MaxConcurrentRuns && await store.TryClaimAsync(OwnerId, stoppingToken) is { } lease)
                {
                    Start(lease, null, stoppingToken);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogClaimFailed(logger, ex.Message);
            }

            try
            {
                await signals.WaitForWakeAsync(options.Value.PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        // Runs in flight record their step as interrupted and hand their lease back.
        while (!_running.IsEmpty)
        {
            await Task.WhenAll(_running.Values);
        }
    }

    private async Task RunAsync(RunLease lease, StepContext? firstStep, CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            await executor.ExecuteAsync(lease, firstStep, stoppingToken);
        }
        catch (Exception ex)
        {
            LogRunFailed(logger, lease.RunId, ex.Message);
        }
        finally
        {
            _running.TryRemove(lease.RunId, out _);
            signals.WakeLocal();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Claimed run {RunId} (epoch {Epoch})")]
    private static partial void LogClaimed(ILogger logger, Guid runId, long epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Claiming runs failed: {Reason}")]
    private static partial void LogClaimFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waking the other replicas' run workers failed: {Reason}")]
    private static partial void LogWakeFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} ended with an error: {Reason}")]
    private static partial void LogRunFailed(ILogger logger, Guid runId, string reason);
}
