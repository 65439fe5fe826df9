using System.Security.Claims;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Data;
using Hangar.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Hangar.ApiService.Agents;

/// <summary>
/// Deployment tokens: what an agent authenticates with when it calls back (<c>/api/agents/me/*</c>, OTLP ingest)
/// outside a step. Each is shown once when made; listing shows only its first characters; revoking is final.
/// </summary>
public static class DeploymentTokensApi
{
    private const string Columns = "id, deployment_id, prefix, created_at, last_used_at, revoked_at";

    public static RouteGroupBuilder MapDeploymentTokensApi(this IEndpointRouteBuilder app)
    {
        var tokens = app.MapGroup("/api/agents/{agentId:guid}/deployments/{deploymentId:guid}/tokens").WithTags("Agents").RequireAuthorization();
        tokens.MapPost("/", CreateToken);
        tokens.MapGet("/", ListTokens);
        tokens.MapDelete("/{tokenId:guid}", RevokeToken);
        return tokens;
    }

    /// <summary>Adds the parameters that insert a new token (<c>@tokenId</c>, <c>@tokenPrefix</c>, <c>@tokenHash</c>) and hands out its secret.</summary>
    internal static NpgsqlCommand WithNewDeploymentToken(this NpgsqlCommand command, out string token)
    {
        token = DeploymentTokens.Generate();
        return command.With("tokenId", Guid.CreateVersion7()).With("tokenPrefix", DeploymentTokens.DisplayPrefix(token)).With("tokenHash", DeploymentTokens.Hash(token));
    }

    internal static async Task<Results<Created<DeploymentToken>, NotFound>> CreateToken(
        Guid agentId, Guid deploymentId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"""
            insert into deployment_tokens (id, organization_id, agent_id, deployment_id, prefix, token_hash)
            select @tokenId, organization_id, agent_id, id, @tokenPrefix, @tokenHash from deployments where id = @deployment and agent_id = @agent and organization_id = @org
            returning {Columns}
            """).With("deployment", deploymentId).With("agent", agentId).With("org", user.GetOrganizationId()).WithNewDeploymentToken(out var secret);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? TypedResults.Created($"/api/agents/{agentId}/deployments/{deploymentId}/tokens", Read(reader) with { Token = secret })
            : TypedResults.NotFound();
    }

    internal static async Task<Results<Ok<List<DeploymentToken>>, NotFound>> ListTokens(
        Guid agentId, Guid deploymentId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"""
            select {Columns} from deployment_tokens where deployment_id = @deployment and agent_id = @agent and organization_id = @org order by created_at
            """).With("deployment", deploymentId).With("agent", agentId).With("org", user.GetOrganizationId());
        var tokens = new List<DeploymentToken>();
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                tokens.Add(Read(reader));
            }
        }

        await using var exists = db.CreateCommand("select 1 from deployments where id = @deployment and agent_id = @agent and organization_id = @org")
            .With("deployment", deploymentId).With("agent", agentId).With("org", user.GetOrganizationId());
        return tokens.Count > 0 || await exists.ExecuteScalarAsync(ct) is not null ? TypedResults.Ok(tokens) : TypedResults.NotFound();
    }

    internal static async Task<Results<NoContent, NotFound>> RevokeToken(
        Guid agentId, Guid deploymentId, Guid tokenId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand("""
            update deployment_tokens set revoked_at = coalesce(revoked_at, now())
            where id = @id and deployment_id = @deployment and agent_id = @agent and organization_id = @org
            """).With("id", tokenId).With("deployment", deploymentId).With("agent", agentId).With("org", user.GetOrganizationId());
        return await command.ExecuteNonQueryAsync(ct) > 0 ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    private static DeploymentToken Read(NpgsqlDataReader r) =>
        new(r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetTime(3), r.IsDBNull(4) ? null : r.GetTime(4), r.IsDBNull(5) ? null : r.GetTime(5));
}
