using System.Security.Claims;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Data;
using Hangar.ApiService.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Hangar.ApiService.Agents;

public static class AgentsApi
{
    private const string AgentColumns = "id, organization_id, name, description, active_deployment_id, created_at, updated_at";

    public static RouteGroupBuilder MapAgentsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/agents").WithTags("Agents").RequireAuthorization();
        api.MapPost("/", CreateAgent);
        api.MapGet("/", ListAgents);
        api.MapGet("/{agentId:guid}", GetAgent);
        api.MapPatch("/{agentId:guid}", UpdateAgent);
        api.MapDelete("/{agentId:guid}", DeleteAgent);
        return api;
    }

    internal static async Task<Results<Created<Agent>, ValidationProblem, Conflict<Microsoft.AspNetCore.Mvc.ProblemDetails>>> CreateAgent(
        CreateAgentRequest request, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        var validation = ValidateName(request.Name);
        if (!validation.IsValid)
        {
            return TypedResults.ValidationProblem(validation.Errors);
        }

        await using var command = db.CreateCommand($"insert into agents (id, organization_id, name, description) values (@id, @org, @name, @description) on conflict (organization_id, name) do nothing returning {AgentColumns}")
            .With("id", Guid.CreateVersion7()).With("org", user.GetOrganizationId()).With("name", request.Name!.Trim()).With("description", request.Description);
        var agent = await ReadAgentAsync(command, ct);
        return agent is null
            ? TypedResults.Conflict(new Microsoft.AspNetCore.Mvc.ProblemDetails { Title = "An agent with this name exists.", Detail = $"The organisation already has an agent named '{request.Name}'.", Status = 409 })
            : TypedResults.Created($"/api/agents/{agent.Id}", agent);
    }

    internal static async Task<Ok<List<Agent>>> ListAgents(ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"select {AgentColumns} from agents where organization_id = @org order by name").With("org", user.GetOrganizationId());
        var agents = new List<Agent>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            agents.Add(ReadAgent(reader));
        }

        return TypedResults.Ok(agents);
    }

    internal static async Task<Results<Ok<Agent>, NotFound>> GetAgent(Guid agentId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"select {AgentColumns} from agents where id = @id and organization_id = @org")
            .With("id", agentId).With("org", user.GetOrganizationId());
        return await ReadAgentAsync(command, ct) is { } agent ? TypedResults.Ok(agent) : TypedResults.NotFound();
    }

    internal static async Task<Results<Ok<Agent>, NotFound, ValidationProblem>> UpdateAgent(
        Guid agentId, UpdateAgentRequest request, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        var validation = request.Name is null ? new Validation() : ValidateName(request.Name);
        if (!validation.IsValid)
        {
            return TypedResults.ValidationProblem(validation.Errors);
        }

        // The active deployment must be one of this agent's own, and running: a stopped one is brought back by redeploying it.
        await using var command = db.CreateCommand($"""
            update agents set
                name = coalesce(@name, name),
                description = coalesce(@description, description),
                active_deployment_id = case when @deployment::uuid is null then active_deployment_id
                    else (select d.id from deployments d where d.id = @deployment and d.agent_id = agents.id and d.status = 'running') end,
                updated_at = now()
            where id = @id and organization_id = @org
            returning {AgentColumns}
            """)
            .With("id", agentId).With("org", user.GetOrganizationId()).With("name", request.Name?.Trim()).With("description", request.Description)
            .With("deployment", request.ActiveDeploymentId);
        try
        {
            var agent = await ReadAgentAsync(command, ct);
            if (agent is not null && request.ActiveDeploymentId is { } wanted && agent.ActiveDeploymentId != wanted)
            {
                validation.Add("active_deployment_id", "No running deployment of this agent has that id.");
                return TypedResults.ValidationProblem(validation.Errors);
            }

            return agent is null ? TypedResults.NotFound() : TypedResults.Ok(agent);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            validation.Add("name", $"The organisation already has an agent named '{request.Name}'.");
            return TypedResults.ValidationProblem(validation.Errors);
        }
    }

    internal static async Task<Results<NoContent, NotFound>> DeleteAgent(Guid agentId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand("delete from agents where id = @id and organization_id = @org").With("id", agentId).With("org", user.GetOrganizationId());
        return await command.ExecuteNonQueryAsync(ct) == 1 ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    internal static async Task<bool> AgentExistsAsync(NpgsqlDataSource db, Guid agentId, Guid organizationId, CancellationToken ct)
    {
        await using var command = db.CreateCommand("select 1 from agents where id = @id and organization_id = @org").With("id", agentId).With("org", organizationId);
        return await command.ExecuteScalarAsync(ct) is not null;
    }

    private static Validation ValidateName(string? name) => new Validation()
        .Require(!string.IsNullOrWhiteSpace(name), "name", "Required.")
        .Require(name is null || name.Trim().Length <= 100, "name", "At most 100 characters.");

    private static async Task<Agent?> ReadAgentAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadAgent(reader) : null;
    }

    private static Agent ReadAgent(NpgsqlDataReader r) =>
        new(r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetStringOrNull(3), r.GetGuidOrNull(4), r.GetTime(5), r.GetTime(6));
}
