using System.Security.Claims;
using System.Text.Json;
using Hangar.ApiService.Agents;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Data;
using Hangar.ApiService.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Hangar.ApiService.Deployments;

/// <summary>
/// An agent's deployments. An <c>external</c> one is live at once at its URL. A <c>docker</c> or <c>process</c> one
/// is an uploaded bundle: stored once per content, then <c>pending</c> until a Deployer starts it
/// (<c>starting</c>) and finds it healthy (<c>running</c>), or <c>failed</c> with the reason.
/// </summary>
public static class DeploymentsApi
{
    private const string Columns =
        "id, agent_id, number, runtime, target, status, url, entrypoint, encode(bundle_hash, 'hex'), restart_count, error, redeployed_from, ready_at, created_at, updated_at";

    public static RouteGroupBuilder MapDeploymentsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/agents/{agentId:guid}/deployments").WithTags("Deployments").RequireAuthorization();
        // The body is read by DeploymentUpload, which answers an unknown content type with a problem naming the accepted ones.
        api.MapPost("/", CreateDeployment)
            .Produces<Deployment>(StatusCodes.Status201Created).ProducesValidationProblem().Produces(StatusCodes.Status404NotFound);
        api.MapGet("/", ListDeployments);
        api.MapGet("/{deploymentId:guid}", GetDeployment);
        api.MapPost("/{deploymentId:guid}/redeploy", Redeploy);
        return api;
    }

    internal static async Task<IResult> CreateDeployment(
        Guid agentId, HttpRequest request, ClaimsPrincipal user, NpgsqlDataSource db, IOptions<DeploymentOptions> options, CancellationToken ct)
    {
        var settings = options.Value;
        var limits = new BundleLimits(settings.MaxUploadBytes, settings.MaxUnpackedBytes, settings.MaxFiles);
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = null;
        }

        var upload = await DeploymentUpload.ReadAsync(request, limits, ct);
        var runtime = upload.Runtime ?? (upload.Url is not null ? "external" : settings.DefaultRuntime);
        var target = upload.Target ?? "production";
        var problems = upload.Problems
            .Require(runtime is "external" or "docker" or "process", "runtime", "Must be 'external' (the agent runs at 'url'), 'docker' or 'process' (Hangar runs the uploaded bundle).")
            .Require(target is "production" or "preview", "target", "Must be 'production' or 'preview'.");
        if (runtime == "external")
        {
            problems
                .Require(Uri.TryCreate(upload.Url, UriKind.Absolute, out var url) && url.Scheme is "http" or "https", "url", "Must be an absolute http or https URL of the running agent.")
                .Require(upload.Bundle is null, "bundle", "An external deployment runs at its URL and takes no bundle.");
        }
        else if (problems.IsValid)
        {
            problems
                .Require(upload.Bundle is not null, "bundle", "Upload the agent's files: a tar, tar.gz or zip body, a multipart 'bundle' part, or 'files' in JSON.")
                .Require(upload.Url is null, "url", "Hangar chooses the URL of a deployment it runs.")
                .Require(!string.IsNullOrWhiteSpace(upload.Entrypoint), "entrypoint", "Required: the file in the bundle that starts the agent, e.g. 'agent.js'.")
                .Require(upload.Activate is null, "activate", "A managed production deployment becomes active once it is healthy; a preview one never does.");
            if (upload.Bundle is { } bundle && !string.IsNullOrWhiteSpace(upload.Entrypoint))
            {
                problems.Require(bundle.ContainsFile(upload.Entrypoint), "entrypoint", $"'{upload.Entrypoint}' is not a file in the bundle.");
            }
        }

        if (!problems.IsValid)
        {
            return TypedResults.ValidationProblem(problems.Errors);
        }

        var environment = upload.Environment is { } overrides ? JsonSerializer.Serialize(overrides, ApiJsonContext.Default.DictionaryStringString) : null;
        var deployment = runtime == "external"
            ? await CreateExternalAsync(db, agentId, user.GetOrganizationId(), target, upload.Url!.TrimEnd('/'), upload.Activate ?? target == "production", environment, ct)
            : await CreateManagedAsync(db, agentId, user.GetOrganizationId(), runtime, target, upload.Bundle!, upload.Entrypoint!.Trim(), environment, ct);
        return deployment is null ? TypedResults.NotFound() : TypedResults.Created($"/api/agents/{agentId}/deployments/{deployment.Id}", deployment);
    }

    /// <summary>A new deployment of an older one's bundle (or URL), entrypoint and overrides, with the agent's environment as it is now.</summary>
    internal static async Task<Results<Created<Deployment>, NotFound, ValidationProblem>> Redeploy(
        Guid agentId, Guid deploymentId, RedeployRequest? request, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        var problems = new Validation().Require(request?.Target is null or "production" or "preview", "target", "Must be 'production' or 'preview'.");
        if (!problems.IsValid)
        {
            return TypedResults.ValidationProblem(problems.Errors);
        }

        await using var command = db.CreateCommand($"""
            with agent as (select id from agents where id = @agent and organization_id = @org for update),
            source as (select d.* from deployments d, agent where d.id = @source and d.agent_id = agent.id),
            created as (
                insert into deployments (id, organization_id, agent_id, number, runtime, target, status, url, entrypoint, bundle_hash, environment, redeployed_from)
                select @id, organization_id, agent_id, (select max(number) from deployments where agent_id = source.agent_id) + 1,
                       runtime, coalesce(@target::text, target), case when runtime = 'external' then 'running' else 'pending' end,
                       case when runtime = 'external' then url end, entrypoint, bundle_hash, environment, id
                from source
                returning *),
            activated as (
                update agents set active_deployment_id = created.id, updated_at = now()
                from created where agents.id = created.agent_id and created.runtime = 'external' and created.target = 'production'),
            {SnapshotEnvironment}
            select {Columns} from created
            """).With("agent", agentId).With("org", user.GetOrganizationId()).With("source", deploymentId).With("id", Guid.CreateVersion7())
            .With("target", request?.Target);
        return await ReadOneAsync(command, ct) is { } deployment
            ? TypedResults.Created($"/api/agents/{agentId}/deployments/{deployment.Id}", deployment)
            : TypedResults.NotFound();
    }

    internal static async Task<Results<Ok<List<Deployment>>, NotFound>> ListDeployments(Guid agentId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"select {Columns} from deployments where agent_id = @agent and organization_id = @org order by number desc")
            .With("agent", agentId).With("org", user.GetOrganizationId());
        var deployments = new List<Deployment>();
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                deployments.Add(Read(reader));
            }
        }

        if (deployments.Count == 0 && !await AgentsApi.AgentExistsAsync(db, agentId, user.GetOrganizationId(), ct))
        {
            return TypedResults.NotFound();
        }

        return TypedResults.Ok(deployments);
    }

    internal static async Task<Results<Ok<Deployment>, NotFound>> GetDeployment(Guid agentId, Guid deploymentId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"select {Columns} from deployments where id = @id and agent_id = @agent and organization_id = @org")
            .With("id", deploymentId).With("agent", agentId).With("org", user.GetOrganizationId());
        return await ReadOneAsync(command, ct) is { } deployment ? TypedResults.Ok(deployment) : TypedResults.NotFound();
    }

    /// <summary>The agent's variables, copied for the deployment in <c>created</c>: a deployment keeps the environment it was made with.</summary>
    private const string SnapshotEnvironment = """
        environment as (
            insert into deployment_env (deployment_id, name, secret, value, sealed)
            select created.id, e.name, e.secret, e.value, e.sealed from created join agent_env e on e.agent_id = created.agent_id
            where created.runtime <> 'external')
        """;

    private static async Task<Deployment?> CreateExternalAsync(
        NpgsqlDataSource db, Guid agentId, Guid organizationId, string target, string url, bool activate, string? environment, CancellationToken ct)
    {
        // An external deployment is live as soon as it exists; the newest production one becomes active unless told otherwise.
        await using var command = db.CreateCommand($"""
            with agent as (select id, organization_id from agents where id = @agent and organization_id = @org for update),
            created as (
                insert into deployments (id, organization_id, agent_id, number, runtime, target, status, url, environment)
                select @id, agent.organization_id, agent.id,
                       coalesce((select max(number) from deployments where agent_id = agent.id), 0) + 1,
                       'external', @target, 'running', @url, @environment
                from agent
                returning *),
            activated as (
                update agents set active_deployment_id = created.id, updated_at = now()
                from created where agents.id = created.agent_id and @activate),
            token as (
                insert into deployment_tokens (id, organization_id, agent_id, deployment_id, prefix, token_hash)
                select @tokenId, agent.organization_id, created.agent_id, created.id, @tokenPrefix, @tokenHash from created, agent)
            select {Columns} from created
            """)
            .With("agent", agentId).With("org", organizationId).With("id", Guid.CreateVersion7()).With("target", target)
            .With("url", url).With("activate", activate).WithJson("environment", environment)
            .WithNewDeploymentToken(out var token);
        return await ReadOneAsync(command, ct) is { } deployment ? deployment with { Token = token } : null;
    }

    /// <summary>Stores the bundle unless the organisation has it already, and a pending deployment of it for the Deployers.</summary>
    private static async Task<Deployment?> CreateManagedAsync(
        NpgsqlDataSource db, Guid agentId, Guid organizationId, string runtime, string target, Bundle bundle, string entrypoint, string? environment, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var exists = new NpgsqlCommand("update bundles set used_at = now() where organization_id = @org and hash = @hash returning 1", connection)
            .With("org", organizationId).With("hash", bundle.Hash);
        var stored = await exists.ExecuteScalarAsync(ct) is not null;
        await using var command = new NpgsqlCommand($"""
            with agent as (select id, organization_id from agents where id = @agent and organization_id = @org for update),
            bundle as (
                insert into bundles (organization_id, hash, file_count, size, archive)
                select agent.organization_id, @hash, @files, @size, @archive from agent where @archive is not null
                on conflict do nothing),
            created as (
                insert into deployments (id, organization_id, agent_id, number, runtime, target, status, entrypoint, bundle_hash, environment)
                select @id, agent.organization_id, agent.id,
                       coalesce((select max(number) from deployments where agent_id = agent.id), 0) + 1,
                       @runtime, @target, 'pending', @entrypoint, @hash, @environment
                from agent
                returning *),
            {SnapshotEnvironment}
            select {Columns} from created
            """, connection)
            .With("agent", agentId).With("org", organizationId).With("id", Guid.CreateVersion7()).With("runtime", runtime).With("target", target)
            .With("entrypoint", entrypoint).With("hash", bundle.Hash).With("files", bundle.Files.Count).With("size", bundle.Size)
            .WithBytes("archive", stored ? null : bundle.ToArchive()).WithJson("environment", environment);
        return await ReadOneAsync(command, ct);
    }

    private static async Task<Deployment?> ReadOneAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    private static Deployment Read(NpgsqlDataReader r) => new(
        r.GetGuid(0), r.GetGuid(1), r.GetInt32(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetStringOrNull(6), r.GetStringOrNull(7),
        r.GetStringOrNull(8), r.GetInt32(9), r.GetStringOrNull(10), r.GetGuidOrNull(11), r.GetTimeOrNull(12), r.GetTime(13), r.GetTime(14));
}
