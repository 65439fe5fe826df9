using Microsoft.Extensions.Options;
using Npgsql;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// Deletes agent logs and spans older than the retention age, expired key-value entries, and bundles that no deployment
/// refers to and nobody uploaded for <see cref="DeploymentOptions.UnusedBundleRetention"/>. Every replica runs the
/// timer, but a session advisory lock lets only one of them delete at a time; deletes go in batches so no single
/// statement holds locks for long.
/// </summary>
internal sealed partial class RetentionJob(
    NpgsqlDataSource db, IOptions<TelemetryOptions> options, IOptions<DeploymentOptions> deployments, ILogger<RetentionJob> logger) : BackgroundService
{
    internal const long LockKey = 1114599285;
    private const int BatchSize = 10_000;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RetentionInterval);
        do
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                LogFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One pass; returns the rows deleted, or null when another replica holds the lock.</summary>
    public async Task<long?> RunOnceAsync(CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using (var take = new NpgsqlCommand($"select pg_try_advisory_lock({LockKey})", connection))
        {
            if (!(bool)(await take.ExecuteScalarAsync(ct))!)
            {
                return null;
            }
        }

        try
        {
            var cutoff = DateTimeOffset.UtcNow - options.Value.Retention;
            long deleted = 0;
            foreach (var sql in (string[])[
                "delete from agent_logs where id in (select id from agent_logs where received_at < @cutoff limit @batch)",
                "delete from agent_spans where id in (select id from agent_spans where received_at < @cutoff limit @batch)",
                "delete from agent_kv where ctid in (select ctid from agent_kv where expires_at < now() limit @batch)",
                """
                delete from bundles where ctid in (
                    select b.ctid from bundles b
                    where b.used_at < @unused
                      and not exists (select 1 from deployments d where d.organization_id = b.organization_id and d.bundle_hash = b.hash)
                    limit @batch)
                """])
            {
                int count;
                do
                {
                    await using var delete = new NpgsqlCommand(sql, connection);
                    delete.Parameters.AddWithValue("cutoff", cutoff);
                    delete.Parameters.AddWithValue("unused", DateTimeOffset.UtcNow - deployments.Value.UnusedBundleRetention);
                    delete.Parameters.AddWithValue("batch", BatchSize);
                    count = await delete.ExecuteNonQueryAsync(ct);
                    deleted += count;
                }
                while (count == BatchSize);
            }

            if (deleted > 0)
            {
                LogDeleted(logger, deleted);
            }

            return deleted;
        }
        finally
        {
            await using var release = new NpgsqlCommand($"select pg_advisory_unlock({LockKey})", connection);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention: deleted {Count} expired log records, spans, key-value entries and unused bundles.")]
    private static partial void LogDeleted(ILogger logger, long count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Retention pass failed; the next one retries.")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
