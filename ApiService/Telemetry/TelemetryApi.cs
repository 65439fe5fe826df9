using System.Buffers.Text;
using System.Globalization;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Data;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// What users read of their agents' telemetry: logs by time range, level and text; spans by time range, name and
/// attributes; and every span of a trace, run or step as a tree. Newest first, with keyset cursors.
/// </summary>
public static class TelemetryApi
{
    private const int DefaultLimit = 100;
    private const int MaxLimit = 1000;
    private const int MaxTreeSpans = 5000;

    private const string LogColumns = """
        id, time, observed_time, severity_number, severity_text, body, attributes::text, service_name, scope_name, trace_id, span_id,
        deployment_id, chat_id, run_id, step_id
        """;

    private const string SpanColumns = """
        id, trace_id, span_id, parent_span_id, name, kind, start_time, end_time, duration_ns, status_code, status_message,
        attributes::text, events::text, service_name, scope_name, deployment_id, chat_id, run_id, step_id
        """;

    private static readonly string[] Levels = ["trace", "debug", "info", "warn", "error", "fatal"];

    public static void MapTelemetryApi(this IEndpointRouteBuilder app)
    {
        var agents = app.MapGroup("/api/agents/{agentId:guid}").WithTags("Telemetry").RequireAuthorization();
        agents.MapGet("/logs", ListLogs);
        agents.MapGet("/spans", ListSpans);
        agents.MapGet("/traces/{traceId}", GetTrace);
        var runs = app.MapGroup("/api/chats/{chatId:guid}/runs/{runId:guid}").WithTags("Telemetry").RequireAuthorization();
        runs.MapGet("/trace", GetRunTrace);
        runs.MapGet("/steps/{stepId:guid}/trace", GetStepTrace);
    }

    /// <summary>Logs newest first. <c>level</c> is the lowest severity shown; <c>q</c> finds text in the body.</summary>
    internal static async Task<IResult> ListLogs(
        Guid agentId, ClaimsPrincipal user, NpgsqlDataSource db, [FromQuery] DateTimeOffset? from, [FromQuery] DateTimeOffset? to,
        [FromQuery] string? level, [FromQuery] string? q, [FromQuery] Guid? runId, [FromQuery] int? limit, [FromQuery] string? cursor, CancellationToken ct)
    {
        var levelIndex = level is null ? 0 : Array.IndexOf(Levels, level.ToLowerInvariant());
        if (levelIndex < 0)
        {
            return Invalid("level", "Must be one of: " + string.Join(", ", Levels) + ".");
        }

        if (Problem(limit, cursor, out var after) is { } problem)
        {
            return problem;
        }

        var minSeverity = level is null ? 0 : levelIndex * 4 + 1;

        var take = limit ?? DefaultLimit;
        await using var command = db.CreateCommand($"""
            select {LogColumns} from agent_logs
            where agent_id = (select id from agents where id = @agent and organization_id = @org)
              and (@from::timestamptz is null or time >= @from) and (@to::timestamptz is null or time < @to) and severity_number >= @severity
              and (@q::text is null or body ilike '%' || @q || '%' escape '\')
              and (@run::uuid is null or run_id = @run)
              and (@afterTime::timestamptz is null or (time, id) < (@afterTime, @afterId))
            order by time desc, id desc limit @limit
            """).With("agent", agentId).With("org", user.GetOrganizationId()).With("from", (object?)from ?? DBNull.Value).With("to", (object?)to ?? DBNull.Value)
            .With("severity", minSeverity).With("q", q is null ? DBNull.Value : EscapeLike(q)).With("run", (object?)runId ?? DBNull.Value)
            .With("afterTime", (object?)after?.Time ?? DBNull.Value).With("afterId", after?.Id ?? 0).With("limit", take + 1);
        var items = new List<LogEntry>();
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                items.Add(ReadLog(reader));
            }
        }

        if (items.Count == 0 && !await AgentsApiExistsAsync(db, agentId, user, ct))
        {
            return TypedResults.NotFound();
        }

        return TypedResults.Ok(Page(items, take, l => (l.Time, l.Id)));
    }

    /// <summary>Spans newest first, filtered by name, trace, run, and attributes (<c>attr=key=value</c>, repeatable, all must match).</summary>
    internal static async Task<IResult> ListSpans(
        Guid agentId, ClaimsPrincipal user, NpgsqlDataSource db, [FromQuery] DateTimeOffset? from, [FromQuery] DateTimeOffset? to,
        [FromQuery] string? name, [FromQuery] string? traceId, [FromQuery] Guid? runId, [FromQuery] string[]? attr, [FromQuery] int? limit, [FromQuery] string? cursor,
        CancellationToken ct)
    {
        if (Problem(limit, cursor, out var after) is { } problem)
        {
            return problem;
        }

        var filter = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var a in attr ?? [])
        {
            var eq = a.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return Invalid("attr", $"'{a}' is not key=value.");
            }

            filter[a[..eq]] = a[(eq + 1)..];
        }

        var take = limit ?? DefaultLimit;
        await using var command = db.CreateCommand($"""
            select {SpanColumns} from agent_spans
            where agent_id = (select id from agents where id = @agent and organization_id = @org)
              and (@from::timestamptz is null or start_time >= @from) and (@to::timestamptz is null or start_time < @to)
              and (@name::text is null or name = @name) and (@trace::text is null or trace_id = @trace) and (@run::uuid is null or run_id = @run)
              and (@attrs::jsonb is null or attributes @> @attrs)
              and (@afterTime::timestamptz is null or (start_time, id) < (@afterTime, @afterId))
            order by start_time desc, id desc limit @limit
            """).With("agent", agentId).With("org", user.GetOrganizationId()).With("from", (object?)from ?? DBNull.Value).With("to", (object?)to ?? DBNull.Value)
            .With("name", (object?)name ?? DBNull.Value).With("trace", (object?)traceId?.ToLowerInvariant() ?? DBNull.Value).With("run", (object?)runId ?? DBNull.Value)
            .WithJsonb("attrs", filter.Count == 0 ? null : JsonSerializer.Serialize(filter, TelemetryJsonContext.Default.DictionaryStringString))
            .With("afterTime", (object?)after?.Time ?? DBNull.Value).With("afterId", after?.Id ?? 0).With("limit", take + 1);
        var items = await ReadSpansAsync(command, ct);
        if (items.Count == 0 && !await AgentsApiExistsAsync(db, agentId, user, ct))
        {
            return TypedResults.NotFound();
        }

        return TypedResults.Ok(Page(items, take, s => (s.StartTime, s.Id)));
    }

    internal static async Task<IResult> GetTrace(Guid agentId, string traceId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"""
            select {SpanColumns} from agent_spans
            where trace_id = @trace and agent_id = (select id from agents where id = @agent and organization_id = @org)
            order by start_time limit {MaxTreeSpans}
            """).With("trace", traceId.ToLowerInvariant()).With("agent", agentId).With("org", user.GetOrganizationId());
        var spans = await ReadSpansAsync(command, ct);
        return spans.Count == 0 ? TypedResults.NotFound() : TypedResults.Ok(Tree(Roots(spans)));
    }

    /// <summary>
    /// The run's trace: Hangar's spans (the send that created the run, each step's agent call and stream appends) and
    /// every span of the traces the agent reported for the run (filed under it by <c>blink.run_id</c> or the
    /// invocation token, or carrying the run's trace id because the agent continued the <c>traceparent</c> it got).
    /// </summary>
    internal static Task<IResult> GetRunTrace(Guid chatId, Guid runId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct) =>
        TraceOfAsync(db, user, chatId, runId, null, ct);

    /// <summary>The part of the run's trace filed under the step, each such span with everything below it.</summary>
    internal static Task<IResult> GetStepTrace(Guid chatId, Guid runId, Guid stepId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct) =>
        TraceOfAsync(db, user, chatId, runId, stepId, ct);

    private static async Task<IResult> TraceOfAsync(NpgsqlDataSource db, ClaimsPrincipal user, Guid chatId, Guid runId, Guid? stepId, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"""
            with run as (select id, trace_id from runs where id = @run and chat_id = @chat and organization_id = @org),
            traces as (
                select trace_id from run where trace_id is not null
                union
                select trace_id from agent_spans where organization_id = @org and run_id = (select id from run) and (@step::uuid is null or step_id = @step))
            select {SpanColumns} from agent_spans
            where organization_id = @org and trace_id in (select trace_id from traces)
            order by start_time limit {MaxTreeSpans}
            """).With("run", runId).With("chat", chatId).With("org", user.GetOrganizationId()).With("step", (object?)stepId ?? DBNull.Value);
        var spans = await ReadSpansAsync(command, ct);
        if (spans.Count == 0)
        {
            await using var exists = db.CreateCommand("select 1 from runs where id = @run and chat_id = @chat and organization_id = @org")
                .With("run", runId).With("chat", chatId).With("org", user.GetOrganizationId());
            if (await exists.ExecuteScalarAsync(ct) is null)
            {
                return TypedResults.NotFound();
            }
        }

        var roots = Roots(spans);
        return TypedResults.Ok(Tree(stepId is { } step ? SubtreesOf(roots, step) : roots));
    }

    /// <summary>Spans linked to their parents; the roots are spans whose parent is not among them.</summary>
    private static List<SpanNode> Roots(List<SpanEntry> spans)
    {
        var nodes = spans.ToDictionary(s => (s.TraceId, s.SpanId), s => new SpanNode(s, []));
        var roots = new List<SpanNode>();
        foreach (var node in nodes.Values.OrderBy(n => n.Span.StartTime))
        {
            if (node.Span.ParentSpanId is { } parent && nodes.TryGetValue((node.Span.TraceId, parent), out var parentNode))
            {
                parentNode.Children.Add(node);
            }
            else
            {
                roots.Add(node);
            }
        }

        return roots;
    }

    /// <summary>The highest spans filed under the step, each with its whole subtree.</summary>
    private static List<SpanNode> SubtreesOf(List<SpanNode> roots, Guid stepId)
    {
        var found = new List<SpanNode>();
        var pending = new Stack<SpanNode>(Enumerable.Reverse(roots));
        while (pending.TryPop(out var node))
        {
            if (node.Span.StepId == stepId)
            {
                found.Add(node);
                continue;
            }

            for (var i = node.Children.Count - 1; i >= 0; i--)
            {
                pending.Push(node.Children[i]);
            }
        }

        return found;
    }

    private static TraceTree Tree(List<SpanNode> roots)
    {
        var traceIds = new List<string>();
        var count = 0;
        var pending = new Stack<SpanNode>(Enumerable.Reverse(roots));
        while (pending.TryPop(out var node))
        {
            count++;
            if (!traceIds.Contains(node.Span.TraceId))
            {
                traceIds.Add(node.Span.TraceId);
            }

            node.Children.ForEach(pending.Push);
        }

        return new TraceTree(traceIds, count, roots);
    }

    private static async Task<List<SpanEntry>> ReadSpansAsync(NpgsqlCommand command, CancellationToken ct)
    {
        var spans = new List<SpanEntry>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            spans.Add(new SpanEntry(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetStringOrNull(3), reader.GetString(4), reader.GetInt16(5),
                reader.GetTime(6), reader.GetTime(7), reader.GetInt64(8) / 1e6, reader.GetInt16(9), reader.GetStringOrNull(10),
                Json(reader.GetStringOrNull(11)), Json(reader.GetStringOrNull(12)), reader.GetStringOrNull(13), reader.GetStringOrNull(14),
                reader.GetGuidOrNull(15), reader.GetGuidOrNull(16), reader.GetGuidOrNull(17), reader.GetGuidOrNull(18)));
        }

        return spans;
    }

    private static LogEntry ReadLog(NpgsqlDataReader r)
    {
        var severity = r.GetInt16(3);
        return new LogEntry(
            r.GetInt64(0), r.GetTime(1), r.IsDBNull(2) ? null : r.GetTime(2), severity, severity == 0 ? "unspecified" : Levels[Math.Min(5, (severity - 1) / 4)],
            r.GetStringOrNull(4), r.GetStringOrNull(5), Json(r.GetStringOrNull(6)), r.GetStringOrNull(7), r.GetStringOrNull(8), r.GetStringOrNull(9),
            r.GetStringOrNull(10), r.GetGuidOrNull(11), r.GetGuidOrNull(12), r.GetGuidOrNull(13), r.GetGuidOrNull(14));
    }

    private static JsonElement? Json(string? text) => text is null ? null : JsonDocument.Parse(text).RootElement.Clone();

    private static TelemetryPage<T> Page<T>(List<T> items, int take, Func<T, (DateTimeOffset Time, long Id)> key)
    {
        if (items.Count <= take)
        {
            return new TelemetryPage<T>(items, null);
        }

        items.RemoveAt(take);
        var (time, id) = key(items[^1]);
        var cursor = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{time.UtcTicks}:{id}")));
        return new TelemetryPage<T>(items, cursor);
    }

    private static IResult? Problem(int? limit, string? cursor, out (DateTimeOffset Time, long Id)? after)
    {
        after = null;
        if (limit is < 1 or > MaxLimit)
        {
            return Invalid("limit", $"Must be between 1 and {MaxLimit}.");
        }

        if (cursor is null)
        {
            return null;
        }

        try
        {
            var parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(cursor)).Split(':');
            after = (new DateTimeOffset(long.Parse(parts[0], CultureInfo.InvariantCulture), TimeSpan.Zero), long.Parse(parts[1], CultureInfo.InvariantCulture));
            return null;
        }
        catch (Exception ex) when (ex is FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException or OverflowException)
        {
            return Invalid("cursor", "Not a cursor this API returned.");
        }
    }

    private static async Task<bool> AgentsApiExistsAsync(NpgsqlDataSource db, Guid agentId, ClaimsPrincipal user, CancellationToken ct) =>
        await Agents.AgentsApi.AgentExistsAsync(db, agentId, user.GetOrganizationId(), ct);

    private static string EscapeLike(string text) => text.Replace(@"\", @"\\", StringComparison.Ordinal).Replace("%", @"\%", StringComparison.Ordinal).Replace("_", @"\_", StringComparison.Ordinal);

    private static IResult Invalid(string field, string message) => TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class TelemetryJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
