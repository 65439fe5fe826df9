using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Hangar.ApiService.Runs;

/// <summary>
/// Claims runs and executes them, up to <see cref="RunOptions.MaxConcurrentRuns"/> at once. Woken by a signal when a
/// run is waiting; polls as a safety net. Every replica runs one; the lease decides who runs what.
/// </summary>
internal sealed partial class RunWorker(RunStore store, RunExecutor executor, RunSignals signals, IOptions<RunOptions> options, ILogger<RunWorker> logger)
    : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, Task> _running = new();

    /// <summary>Identifies this replica in <c>runs.lease_owner</c>.</summary>
    public string OwnerId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (_running.Count < options.Value.MaxConcurrentRuns && await store.TryClaimAsync(OwnerId, stoppingToken) is { } lease)
                {
                    LogClaimed(logger, lease.RunId, lease.Epoch);
                    _running[lease.RunId] = RunAsync(lease, stoppingToken);
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
        await Task.WhenAll(_running.Values);
    }

    private async Task RunAsync(RunLease lease, CancellationToken stoppingToken)
    {
        await Task.Yield();
        try
        {
            await executor.ExecuteAsync(lease, stoppingToken);
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

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} ended with an error: {Reason}")]
    private static partial void LogRunFailed(ILogger logger, Guid runId, string reason);
}
