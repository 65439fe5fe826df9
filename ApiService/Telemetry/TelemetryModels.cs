using System.Text.Json;

namespace Hangar.ApiService.Telemetry;

public sealed record LogEntry(
    long Id, DateTimeOffset Time, DateTimeOffset? ObservedTime, int SeverityNumber, string Level, string? SeverityText, string? Body,
    JsonElement? Attributes, string? ServiceName, string? ScopeName, string? TraceId, string? SpanId,
    Guid? DeploymentId, Guid? ChatId, Guid? RunId, Guid? StepId);

public sealed record SpanEntry(
    long Id, string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind, DateTimeOffset StartTime, DateTimeOffset EndTime,
    double DurationMs, int StatusCode, string? StatusMessage, JsonElement? Attributes, JsonElement? Events, string? ServiceName, string? ScopeName,
    Guid? DeploymentId, Guid? ChatId, Guid? RunId, Guid? StepId);

/// <summary>A span with its children, for trace trees.</summary>
public sealed record SpanNode(SpanEntry Span, List<SpanNode> Children);

/// <summary>Every span of a run, step or trace, as trees (roots are spans whose parent is not among them).</summary>
public sealed record TraceTree(List<string> TraceIds, int SpanCount, List<SpanNode> Roots);

public sealed record TelemetryPage<T>(List<T> Items, string? NextCursor);
