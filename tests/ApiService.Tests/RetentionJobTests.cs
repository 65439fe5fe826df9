using Hangar.ApiService;
using Hangar.ApiService.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace ApiService.Tests;

/// <summary>The retention job against the stack's PostgreSQL: what is old goes, what is fresh stays, one replica at a time.</summary>
[Collection(nameof(HangarStack))]
public sealed class RetentionJobTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RunOnce_DeletesOldLogsSpansAndExpiredKeys_AndKeepsTheRest()
    {
        var agentId = await stack.CreateAgentAsync();
        await using var db = NpgsqlDataSource.Create(stack.PostgresConnectionString);
        await using (var seed = db.CreateCommand("""
            insert into agent_logs (organization_id, agent_id, time, severity_number, body, received_at)
            select a.organization_id, a.id, now(), 9, b.body, b.received_at from agents a,
                   (values ('old', now() - interval '3 days'), ('fresh', now() - interval '1 hour')) b(body, received_at)
            where a.id = @agent;
            insert into agent_spans (organization_id, agent_id, trace_id, span_id, name, kind, start_time, end_time, duration_ns, status_code, received_at)
            select a.organization_id, a.id, '0af7651916cd43dd8448eb211c80319c', b.span, b.name, 1, now(), now(), 0, 0, b.received_at from agents a,
                   (values ('b7ad6b7169203331', 'old', now() - interval '3 days'), ('b7ad6b7169203332', 'fresh', now())) b(span, name, received_at)
            where a.id = @agent;
            insert into agent_kv (agent_id, target, key, value, expires_at) values
                (@agent, 'production', 'expired', '\x01', now() - interval '1 second'),
                (@agent, 'production', 'live', '\x02', now() + interval '1 hour'),
                (@agent, 'production', 'forever', '\x03', null);
            """))
        {
            seed.Parameters.AddWithValue("agent", agentId);
            await seed.ExecuteNonQueryAsync(Ct);
        }

        var deleted = await Job(db).RunOnceAsync(Ct);

        Assert.True(deleted >= 3, $"deleted {deleted}");
        Assert.Equal(["fresh"], await ListAsync(db, "select body from agent_logs where agent_id = @agent", agentId));
        Assert.Equal(["fresh"], await ListAsync(db, "select name from agent_spans where agent_id = @agent", agentId));
        Assert.Equal(["forever", "live"], await ListAsync(db, "select key from agent_kv where agent_id = @agent order by key", agentId));
    }

    [Fact]
    public async Task RunOnce_DeletesBundlesNoDeploymentUses_OnceUnusedLongEnough()
    {
        var agentId = await stack.CreateAgentAsync();
        await using var db = NpgsqlDataSource.Create(stack.PostgresConnectionString);
        await using (var seed = db.CreateCommand("""
            insert into bundles (organization_id, hash, file_count, size, archive, used_at)
            select a.organization_id, b.hash, 1, 1, '\x00', b.used_at from agents a,
                   (values (decode(md5(@agent::text || 'old'), 'hex'), now() - interval '3 days'),
                           (decode(md5(@agent::text || 'recent'), 'hex'), now() - interval '1 hour'),
                           (decode(md5(@agent::text || 'deployed'), 'hex'), now() - interval '3 days')) b(hash, used_at)
            where a.id = @agent;
            insert into deployments (id, organization_id, agent_id, number, runtime, target, status, entrypoint, bundle_hash)
            select gen_random_uuid(), organization_id, id, (select coalesce(max(number), 0) + 1 from deployments where agent_id = @agent), 'process', 'preview', 'stopped', 'agent.mjs', decode(md5(@agent::text || 'deployed'), 'hex')
            from agents where id = @agent;
            """))
        {
            seed.Parameters.AddWithValue("agent", agentId);
            await seed.ExecuteNonQueryAsync(Ct);
        }

        await Job(db).RunOnceAsync(Ct);

        var kept = await ListAsync(db, """
            select label from (values ('old'), ('recent'), ('deployed')) v(label)
            where exists (select 1 from bundles where hash = decode(md5(@agent::text || label), 'hex')) order by label
            """, agentId);
        Assert.Equal(["deployed", "recent"], kept);
    }

    [Fact]
    public async Task RunOnce_WhileAnotherReplicaHoldsTheLock_DoesNothing()
    {
        await using var db = NpgsqlDataSource.Create(stack.PostgresConnectionString);
        await using var other = await db.OpenConnectionAsync(Ct);
        await using (var take = new NpgsqlCommand($"select pg_advisory_lock({RetentionJob.LockKey})", other))
        {
            await take.ExecuteNonQueryAsync(Ct);
        }

        Assert.Null(await Job(db).RunOnceAsync(Ct));

        await using (var release = new NpgsqlCommand($"select pg_advisory_unlock({RetentionJob.LockKey})", other))
        {
            await release.ExecuteNonQueryAsync(Ct);
        }

        Assert.NotNull(await Job(db).RunOnceAsync(Ct));
    }

    private static RetentionJob Job(NpgsqlDataSource db) =>
        new(db, Options.Create(new TelemetryOptions { Retention = TimeSpan.FromDays(1) }),
            Options.Create(new DeploymentOptions { UnusedBundleRetention = TimeSpan.FromDays(1) }), NullLogger<RetentionJob>.Instance);

    private static async Task<List<string>> ListAsync(NpgsqlDataSource db, string sql, Guid agentId)
    {
        await using var command = db.CreateCommand(sql);
        command.Parameters.AddWithValue("agent", agentId);
        var values = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }
}
