using Hangar.ApiService.Auth;
using Npgsql;
using NpgsqlTypes;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// Writes a whole OTLP request in one binary COPY inside one transaction: one round trip for any number of
/// records, and a payload is stored entirely or not at all.
/// </summary>
internal sealed class TelemetryStore(NpgsqlDataSource db)
{
    public Task WriteSpansAsync(AgentCaller caller, List<SpanRecord> spans, CancellationToken ct) =>
        WriteSpansAsync(spans.ConvertAll(s => new FiledSpan(caller, s)), ct);

    /// <summary>Spans of any number of agents, each filed under its own caller.</summary>
    public async Task WriteSpansAsync(IReadOnlyList<FiledSpan> spans, CancellationToken ct)
    {
        if (spans.Count == 0)
        {
            return;
        }

        await using var connection = await db.OpenConnectionAsync(ct);
        await using (var copy = await connection.BeginBinaryImportAsync("""
            copy agent_spans (organization_id, agent_id, deployment_id, trace_id, span_id, parent_span_id, name, kind, start_time, end_time,
                              duration_ns, status_code, status_message, attributes, events, resource, service_name, scope_name, chat_id, run_id, step_id)
            from stdin (format binary)
            """, ct))
        {
            foreach (var (caller, s) in spans)
            {
                await copy.StartRowAsync(ct);
                await WriteCallerAsync(copy, caller, ct);
                await copy.WriteAsync(s.TraceId, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(s.SpanId, NpgsqlDbType.Text, ct);
                await WriteAsync(copy, s.ParentSpanId, NpgsqlDbType.Text, ct);
                await copy.WriteAsync(s.Name, NpgsqlDbType.Text, ct);
                await copy.WriteAsync((short)s.Kind, NpgsqlDbType.Smallint, ct);
                await copy.WriteAsync(Time(s.StartUnixNano), NpgsqlDbType.TimestampTz, ct);
                await copy.WriteAsync(Time(s.EndUnixNano), NpgsqlDbType.TimestampTz, ct);
                await copy.WriteAsync(Math.Max(0, s.EndUnixNano - s.StartUnixNano), NpgsqlDbType.Bigint, ct);
                await copy.WriteAsync((short)s.StatusCode, NpgsqlDbType.Smallint, ct);
                await WriteAsync(copy, s.StatusMessage, NpgsqlDbType.Text, ct);
                await WriteAsync(copy, s.AttributesJson, NpgsqlDbType.Jsonb, ct);
                await WriteAsync(copy, s.EventsJson, NpgsqlDbType.Jsonb, ct);
                await WriteContextAsync(copy, s.Context, ct);
                await WriteIdsAsync(copy, caller, s.ChatId, s.RunId, s.StepId, ct);
            }

            await copy.CompleteAsync(ct);
        }
    }

    public async Task WriteLogsAsync(AgentCaller caller, List<LogRecord> logs, CancellationToken ct)
    {
        if (logs.Count == 0)
        {
            return;
        }

        var now = DateTimeOffset.UtcNow;
        await using var connection = await db.OpenConnectionAsync(ct);
        await using (var copy = await connection.BeginBinaryImportAsync("""
            copy agent_logs (organization_id, agent_id, deployment_id, time, observed_time, severity_number, severity_text, body, attributes,
                             resource, service_name, scope_name, trace_id, span_id, chat_id, run_id, step_id)
            from stdin (format binary)
            """, ct))
        {
            foreach (var l in logs)
            {
                await copy.StartRowAsync(ct);
                await WriteCallerAsync(copy, caller, ct);

                // A record without a time is filed when it was observed, or when it arrived.
                var time = l.TimeUnixNano > 0 ? Time(l.TimeUnixNano) : l.ObservedUnixNano > 0 ? Time(l.ObservedUnixNano) : now;
                await copy.WriteAsync(time, NpgsqlDbType.TimestampTz, ct);
                await WriteAsync(copy, l.ObservedUnixNano > 0 ? Time(l.ObservedUnixNano) : (DateTimeOffset?)null, NpgsqlDbType.TimestampTz, ct);
                await copy.WriteAsync((short)Math.Clamp(l.SeverityNumber, 0, 24), NpgsqlDbType.Smallint, ct);
                await WriteAsync(copy, l.SeverityText, NpgsqlDbType.Text, ct);
                await WriteAsync(copy, l.Body, NpgsqlDbType.Text, ct);
                await WriteAsync(copy, l.AttributesJson, NpgsqlDbType.Jsonb, ct);
                await WriteContextAsync(copy, l.Context, ct);
                await WriteAsync(copy, l.TraceId, NpgsqlDbType.Text, ct);
                await WriteAsync(copy, l.SpanId, NpgsqlDbType.Text, ct);
                await WriteIdsAsync(copy, caller, l.ChatId, l.RunId, l.StepId, ct);
            }

            await copy.CompleteAsync(ct);
        }
    }

    /// <summary>Nanoseconds since the Unix epoch as a timestamp (PostgreSQL keeps microseconds).</summary>
    public static DateTimeOffset Time(long unixNano) => DateTimeOffset.UnixEpoch.AddTicks(Math.Max(0, unixNano) / 100);

    private static async Task WriteCallerAsync(NpgsqlBinaryImporter copy, AgentCaller caller, CancellationToken ct)
    {
        await copy.WriteAsync(caller.OrganizationId, NpgsqlDbType.Uuid, ct);
        await copy.WriteAsync(caller.AgentId, NpgsqlDbType.Uuid, ct);
        await WriteAsync(copy, caller.DeploymentId, NpgsqlDbType.Uuid, ct);
    }

    private static async Task WriteContextAsync(NpgsqlBinaryImporter copy, OtlpContext context, CancellationToken ct)
    {
        await WriteAsync(copy, context.ResourceJson, NpgsqlDbType.Jsonb, ct);
        await WriteAsync(copy, context.ServiceName, NpgsqlDbType.Text, ct);
        await WriteAsync(copy, context.ScopeName, NpgsqlDbType.Text, ct);
    }

    /// <summary>The record's own ids, else those of the invocation token it was sent with.</summary>
    private static async Task WriteIdsAsync(NpgsqlBinaryImporter copy, AgentCaller caller, Guid? chat, Guid? run, Guid? step, CancellationToken ct)
    {
        await WriteAsync(copy, chat ?? caller.ChatId, NpgsqlDbType.Uuid, ct);
        await WriteAsync(copy, run ?? caller.RunId, NpgsqlDbType.Uuid, ct);
        await WriteAsync(copy, step ?? caller.StepId, NpgsqlDbType.Uuid, ct);
    }

    private static Task WriteAsync<T>(NpgsqlBinaryImporter copy, T? value, NpgsqlDbType type, CancellationToken ct) =>
        value is null ? copy.WriteNullAsync(ct) : copy.WriteAsync(value, type, ct);
}
