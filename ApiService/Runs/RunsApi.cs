using System.Security.Claims;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Chats;
using Hangar.ApiService.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Hangar.ApiService.Runs;

public static class RunsApi
{
    public static RouteGroupBuilder MapRunsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/chats/{chatId:guid}/runs").WithTags("Runs").RequireAuthorization();
        api.MapGet("/", ListRuns);
        api.MapGet("/{runId:guid}", GetRun);
        api.MapGet("/{runId:guid}/steps", ListSteps);
        api.MapGet("/{runId:guid}/steps/{stepId:guid}", GetStep);
        return api;
    }

    internal static async Task<Results<Ok<List<Run>>, NotFound>> ListRuns(Guid chatId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        var org = user.GetOrganizationId();
        await using var command = db.CreateCommand($"select {ChatStore.RunColumns} from runs where chat_id = @chat and organization_id = @org order by number")
            .With("chat", chatId).With("org", org);
        var runs = await ChatStore.ListAsync(command, ChatStore.ReadRun, ct);
        return runs.Count == 0 && await ChatStore.GetChatAsync(db, org, chatId, ct) is null ? TypedResults.NotFound() : TypedResults.Ok(runs);
    }

    internal static async Task<Results<Ok<Run>, NotFound>> GetRun(Guid chatId, Guid runId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"select {ChatStore.RunColumns} from runs where id = @id and chat_id = @chat and organization_id = @org")
            .With("id", runId).With("chat", chatId).With("org", user.GetOrganizationId());
        return await ChatStore.SingleAsync(command, ChatStore.ReadRun, ct) is { } run ? TypedResults.Ok(run) : TypedResults.NotFound();
    }

    internal static async Task<Results<Ok<List<Step>>, NotFound>> ListSteps(Guid chatId, Guid runId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        var org = user.GetOrganizationId();
        await using var command = db.CreateCommand($"""
            select {ChatStore.StepColumns} from steps
            where run_id = @run and exists (select 1 from runs where id = @run and chat_id = @chat and organization_id = @org)
            order by number
            """).With("run", runId).With("chat", chatId).With("org", org);
        var steps = await ChatStore.ListAsync(command, ChatStore.ReadStep, ct);
        return steps.Count == 0 && await GetRun(chatId, runId, user, db, ct) is { Result: NotFound } ? TypedResults.NotFound() : TypedResults.Ok(steps);
    }

    internal static async Task<Results<Ok<Step>, NotFound>> GetStep(Guid chatId, Guid runId, Guid stepId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"""
            select {ChatStore.StepColumns} from steps
            where id = @id and run_id = @run and exists (select 1 from runs where id = @run and chat_id = @chat and organization_id = @org)
            """).With("id", stepId).With("run", runId).With("chat", chatId).With("org", user.GetOrganizationId());
        return await ChatStore.SingleAsync(command, ChatStore.ReadStep, ct) is { } step ? TypedResults.Ok(step) : TypedResults.NotFound();
    }
}
