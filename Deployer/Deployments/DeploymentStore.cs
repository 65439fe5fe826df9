using System.Text.Json;
using Hangar.Contracts;
using Npgsql;

namespace Hangar.Deployer.Deployments;

/// <summary>A deployment this replica manages, as leased.</summary>
public sealed record ManagedDeployment(
    Guid Id, Guid OrganizationId, Guid AgentId, int Number, string Runtime, string Target, string Status, string Entrypoint, byte[] BundleHash,
    string? InstanceId, string? Url);

/// <summary>
/// The Deployer's view of PostgreSQL: leases on the deployments that should run, their state changes, their bundle
/// and environment, and the deployment tokens of the instances it starts. Every write of a leased deployment checks
/// the lease, so a replica that lost one cannot overwrite the new holder's work.
/// </summary>
public sealed class DeploymentStore(NpgsqlDataSource db, SecretBox secrets)
{
    private const string Columns = "id, organization_id, agent_id, number, runtime, target, status, entrypoint, bundle_hash, instance_id, url";

    /// <summary>Renews this replica's leases and takes free or expired ones: the deployments of these runtimes that should run.</summary>
    public async Task<List<ManagedDeployment>> LeaseAsync(string owner, TimeSpan duration, string runtime, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"""
            update deployments set lease_owner = @owner, lease_expires_at = now() + @duration
            where id in (
                select id from deployments
                where runtime = @runtime and status in ('pending', 'starting', 'running')
                  and (lease_owner is null or lease_owner = @owner or lease_expires_at < now())
                for update skip locked)
            returning {Columns}
            """);
        command.Parameters.AddWithValue("owner", owner);
        command.Parameters.AddWithValue("duration", duration);
        command.Parameters.AddWithValue("runtime", runtime);
        var leased = new List<ManagedDeployment>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            leased.Add(new ManagedDeployment(
                reader.GetGuid(0), reader.GetGuid(1), reader.GetGuid(2), reader.GetInt32(3), reader.GetString(4), reader.GetString(5), reader.GetString(6),
                reader.GetString(7), reader.GetFieldValue<byte[]>(8), reader.IsDBNull(9) ? null : reader.GetString(9), reader.IsDBNull(10) ? null : reader.GetString(10)));
        }

        return leased;
    }

    /// <summary>The status of each deployment that has an instance but is not leased here; deleted ones are missing.</summary>
    public async Task<Dictionary<Guid, string>> StatusesAsync(IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        await using var command = db.CreateCommand("select id, status from deployments where id = any(@ids)");
        command.Parameters.AddWithValue("ids", ids.ToArray());
        var statuses = new Dictionary<Guid, string>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            statuses[reader.GetGuid(0)] = reader.GetString(1);
        }

        return statuses;
    }

    public Task<bool> MarkStartingAsync(Guid id, string owner, string instanceId, CancellationToken ct) => UpdateLeasedAsync(
        id, owner, "status = 'starting', instance_id = @instance, error = null", ct, ("instance", instanceId));

    /// <summary>
    /// The deployment is healthy: running at <paramref name="url"/>. A production one becomes the agent's active
    /// deployment unless a newer one already is, and older running deployments of the same target are stopped.
    /// </summary>
    public async Task<bool> MarkRunningAsync(Guid id, string owner, string url, CancellationToken ct)
    {
        await using var command = db.CreateCommand("""
            with ready as (
                update deployments set status = 'running', url = @url, ready_at = coalesce(ready_at, now()), error = null, updated_at = now()
                where id = @id and lease_owner = @owner and status in ('starting', 'running')
                returning id, agent_id, number, target),
            activated as (
                update agents a set active_deployment_id = ready.id, updated_at = now()
                from ready
                where a.id = ready.agent_id and ready.target = 'production'
                  and (a.active_deployment_id is null or a.active_deployment_id = ready.id
                       or (select d.status <> 'running' or d.number < ready.number from deployments d where d.id = a.active_deployment_id))),
            replaced as (
                update deployments d set status = 'stopped', updated_at = now()
                from ready
                where d.agent_id = ready.agent_id and d.target = ready.target and d.number < ready.number
                  and d.runtime <> 'external' and d.status in ('pending', 'starting', 'running'))
            select count(*) from ready
            """);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("owner", owner);
        command.Parameters.AddWithValue("url", url);
        return (long)(await command.ExecuteScalarAsync(ct))! == 1;
    }

    public Task<bool> MarkFailedAsync(Guid id, string owner, string reason, CancellationToken ct) => UpdateLeasedAsync(
        id, owner, "status = 'failed', error = @reason, lease_owner = null, lease_expires_at = null", ct, ("reason", reason));

    public Task<bool> RecordRestartsAsync(Guid id, string owner, int restarts, string instanceId, CancellationToken ct) => UpdateLeasedAsync(
        id, owner, "restart_count = restart_count + @restarts, last_restart_at = now(), instance_id = @instance", ct, ("restarts", restarts), ("instance", instanceId));

    /// <summary>Gives a deployment's lease back, so that another replica may take it at once (on a graceful shutdown).</summary>
    public async Task ReleaseAsync(string owner, CancellationToken ct)
    {
        await using var command = db.CreateCommand("update deployments set lease_owner = null, lease_expires_at = null where lease_owner = @owner");
        command.Parameters.AddWithValue("owner", owner);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The canonical bundle archive (a gzipped tar).</summary>
    public async Task<byte[]> ReadBundleAsync(ManagedDeployment deployment, CancellationToken ct)
    {
        await using var command = db.CreateCommand("select archive from bundles where organization_id = @org and hash = @hash");
        command.Parameters.AddWithValue("org", deployment.OrganizationId);
        command.Parameters.AddWithValue("hash", deployment.BundleHash);
        return await command.ExecuteScalarAsync(ct) as byte[]
            ?? throw new InvalidOperationException($"The bundle of deployment {deployment.Id} is missing.");
    }

    /// <summary>The deployment's environment: the agent's variables as of the deployment (secrets opened), then its overrides.</summary>
    public async Task<Dictionary<string, string>> ReadEnvironmentAsync(ManagedDeployment deployment, CancellationToken ct)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var command = db.CreateCommand("select name, secret, value, sealed from deployment_env where deployment_id = @id"))
        {
            command.Parameters.AddWithValue("id", deployment.Id);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var name = reader.GetString(0);
                environment[name] = reader.GetBoolean(1)
                    ? secrets.Open(reader.GetFieldValue<byte[]>(3), SecretBox.AgentEnvironmentContext(deployment.AgentId, name))
                    : reader.GetString(2);
            }
        }

        await using (var command = db.CreateCommand("select environment::text from deployments where id = @id"))
        {
            command.Parameters.AddWithValue("id", deployment.Id);
            if (await command.ExecuteScalarAsync(ct) is string overrides)
            {
                using var document = JsonDocument.Parse(overrides);
                foreach (var variable in document.RootElement.EnumerateObject())
                {
                    environment[variable.Name] = variable.Value.GetString()!;
                }
            }
        }

        return environment;
    }

    /// <summary>A new deployment token for one instance; only its hash is stored.</summary>
    public async Task<(Guid Id, string Token)> MintTokenAsync(ManagedDeployment deployment, CancellationToken ct)
    {
        var token = DeploymentTokens.Generate();
        var id = Guid.CreateVersion7();
        await using var command = db.CreateCommand("""
            insert into deployment_tokens (id, organization_id, agent_id, deployment_id, prefix, token_hash)
            values (@id, @org, @agent, @deployment, @prefix, @hash)
            """);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("org", deployment.OrganizationId);
        command.Parameters.AddWithValue("agent", deployment.AgentId);
        command.Parameters.AddWithValue("deployment", deployment.Id);
        command.Parameters.AddWithValue("prefix", DeploymentTokens.DisplayPrefix(token));
        command.Parameters.AddWithValue("hash", DeploymentTokens.Hash(token));
        await command.ExecuteNonQueryAsync(ct);
        return (id, token);
    }

    /// <summary>Revokes the token of an instance that is gone.</summary>
    public async Task RevokeTokenAsync(Guid tokenId, CancellationToken ct)
    {
        await using var command = db.CreateCommand("update deployment_tokens set revoked_at = coalesce(revoked_at, now()) where id = @id");
        command.Parameters.AddWithValue("id", tokenId);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Steps still running against the deployment: a replaced deployment is stopped once there are none.</summary>
    public async Task<long> StepsInFlightAsync(Guid deploymentId, CancellationToken ct)
    {
        await using var command = db.CreateCommand("select count(*) from steps where deployment_id = @id and status = 'running'");
        command.Parameters.AddWithValue("id", deploymentId);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    private async Task<bool> UpdateLeasedAsync(Guid id, string owner, string set, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        await using var command = db.CreateCommand($"update deployments set {set}, updated_at = now() where id = @id and lease_owner = @owner");
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("owner", owner);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return await command.ExecuteNonQueryAsync(ct) == 1;
    }
}
