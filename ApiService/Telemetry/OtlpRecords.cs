using Hangar.ApiService.Auth;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// What a resource and scope say about the records under them: the attributes as a JSON object, and the ids Hangar
/// files records by (<c>service.name</c>, <c>blink.chat_id</c>, <c>blink.run_id</c>, <c>blink.step_id</c>).
/// </summary>
internal sealed record OtlpContext(string? ResourceJson, string? ServiceName, string? ScopeName, Guid? ChatId, Guid? RunId, Guid? StepId);

internal sealed record SpanRecord(
    OtlpContext Context, string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind, long StartUnixNano, long EndUnixNano,
    int StatusCode, string? StatusMessage, string? AttributesJson, string? EventsJson, Guid? ChatId, Guid? RunId, Guid? StepId);

/// <summary>A span and the agent, deployment and invocation it is filed under.</summary>
internal readonly record struct FiledSpan(AgentCaller Caller, SpanRecord Span);

internal sealed record LogRecord(
    OtlpContext Context, long TimeUnixNano, long ObservedUnixNano, int SeverityNumber, string? SeverityText, string? Body,
    string? AttributesJson, string? TraceId, string? SpanId, Guid? ChatId, Guid? RunId, Guid? StepId);

/// <summary>An OTLP payload that cannot be read: the ingest answers 400 with this message and stores nothing.</summary>
internal sealed class OtlpFormatException(string message) : Exception(message);

/// <summary>The attribute keys Blink's SDK puts on resources, spans and logs (from W3C baggage).</summary>
internal static class BlinkAttributes
{
    public const string ChatId = "blink.chat_id";
    public const string RunId = "blink.run_id";
    public const string StepId = "blink.step_id";
    public const string ServiceName = "service.name";

    /// <summary>Ids that are not UUIDs (a client's own labels) are kept in the attributes but not used for filing.</summary>
    public static Guid? ParseId(string? value) => Guid.TryParse(value, out var id) ? id : null;
}
