using System.Security.Claims;
using System.Text.RegularExpressions;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Data;
using Hangar.ApiService.Http;
using Hangar.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Hangar.ApiService.Agents;

/// <summary>
/// An agent's environment variables, applied to every new deployment. Secret values are sealed at rest
/// (<see cref="SecretBox"/>) and never returned; plain ones are. Names the platform sets itself are refused.
/// </summary>
public static partial class AgentEnvironmentApi
{
    public const int MaxValueBytes = 32 * 1024;
    public const int MaxVariables = 200;

    private static readonly string[] ReservedNames =
    [
        "ENTRYPOINT", "PORT", "HOST", "BLINK_API_URL", "BLINK_DEPLOYMENT_TOKEN", "BLINK_REQUEST_URL", "BLINK_REQUEST_ID",
        "INTERNAL_BLINK_API_SERVER_URL", "INTERNAL_BLINK_API_SERVER_LISTEN_PORT",
    ];

    public static RouteGroupBuilder MapAgentEnvironmentApi(this IEndpointRouteBuilder app)
    {
        var env = app.MapGroup("/api/agents/{agentId:guid}/env").WithTags("Agents").RequireAuthorization();
        env.MapGet("/", ListVariables);
        env.MapPut("/{name}", SetVariable);
        env.MapDelete("/{name}", DeleteVariable);
        return env;
    }

    internal static async Task<Results<Ok<List<EnvironmentVariable>>, NotFound>> ListVariables(Guid agentId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        if (!await AgentsApi.AgentExistsAsync(db, agentId, user.GetOrganizationId(), ct))
        {
            return TypedResults.NotFound();
        }

        await using var command = db.CreateCommand("select name, secret, value, updated_at from agent_env where agent_id = @agent order by name").With("agent", agentId);
        var variables = new List<EnvironmentVariable>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            variables.Add(new EnvironmentVariable(reader.GetString(0), reader.GetBoolean(1), reader.GetStringOrNull(2), reader.GetTime(3)));
        }

        return TypedResults.Ok(variables);
    }

    internal static async Task<Results<Ok<EnvironmentVariable>, NotFound, ValidationProblem>> SetVariable(
        Guid agentId, string name, SetEnvironmentVariableRequest request, ClaimsPrincipal user, NpgsqlDataSource db, SecretBox secrets, CancellationToken ct)
    {
        var secret = request.Secret ?? false;
        var validation = Validate(name)
            .Require(request.Value is not null, "value", "Required: the variable's value, a string.")
            .Require(request.Value is null || System.Text.Encoding.UTF8.GetByteCount(request.Value) <= MaxValueBytes, "value", $"At most {MaxValueBytes} bytes.");
        if (!validation.IsValid)
        {
            return TypedResults.ValidationProblem(validation.Errors);
        }

        await using var command = db.CreateCommand($"""
            with agent as (select id from agents where id = @agent and organization_id = @org),
            count as (select count(*) as n from agent_env where agent_id = @agent and name <> @name)
            insert into agent_env (agent_id, name, secret, value, sealed, updated_at)
            select agent.id, @name, @secret, @value, @sealed, now() from agent, count where count.n < {MaxVariables}
            on conflict (agent_id, name) do update set secret = excluded.secret, value = excluded.value, sealed = excluded.sealed, updated_at = now()
            returning updated_at
            """).With("agent", agentId).With("org", user.GetOrganizationId()).With("name", name).With("secret", secret)
            .With("value", secret ? null : request.Value).With("sealed", secret ? secrets.Seal(request.Value!, SecretBox.AgentEnvironmentContext(agentId, name)) : null);
        if (await command.ExecuteScalarAsync(ct) is DateTime updatedAt)
        {
            return TypedResults.Ok(new EnvironmentVariable(name, secret, secret ? null : request.Value, new DateTimeOffset(updatedAt, TimeSpan.Zero)));
        }

        if (!await AgentsApi.AgentExistsAsync(db, agentId, user.GetOrganizationId(), ct))
        {
            return TypedResults.NotFound();
        }

        var full = new Validation();
        full.Add("name", $"The agent already has {MaxVariables} variables, the most it can have.");
        return TypedResults.ValidationProblem(full.Errors);
    }

    internal static async Task<Results<NoContent, NotFound>> DeleteVariable(Guid agentId, string name, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand("""
            delete from agent_env where agent_id = (select id from agents where id = @agent and organization_id = @org) and name = @name
            """).With("agent", agentId).With("org", user.GetOrganizationId()).With("name", name);
        return await command.ExecuteNonQueryAsync(ct) == 1 ? TypedResults.NoContent() : TypedResults.NotFound();
    }

    private static Validation Validate(string name)
    {
        var validation = new Validation();
        if (NameProblem(name) is { } problem)
        {
            validation.Add("name", problem);
        }

        return validation;
    }

    /// <summary>What is wrong with a variable's name, or null: names must be POSIX names, and not ones Hangar sets itself.</summary>
    internal static string? NameProblem(string name) =>
        name.Length > 256 || !NamePattern().IsMatch(name)
            ? "Must be a POSIX environment variable name: letters, digits and '_', not starting with a digit, at most 256 characters."
            : ReservedNames.Contains(name) || name.StartsWith("HANGAR_", StringComparison.Ordinal)
                ? $"'{name}' is set by Hangar for every deployment and cannot be overridden."
                : null;

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex NamePattern();
}

/// <summary>A variable as the API shows it: <see cref="Value"/> is null for secrets.</summary>
public sealed record EnvironmentVariable(string Name, bool Secret, string? Value, DateTimeOffset UpdatedAt);

public sealed record SetEnvironmentVariableRequest(string? Value, bool? Secret);
