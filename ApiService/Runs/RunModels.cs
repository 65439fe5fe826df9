using System.Text.Json;

namespace Hangar.ApiService.Runs;

/// <summary>A run. <see cref="TraceId"/> is the W3C trace of its spans, Hangar's and (through <c>traceparent</c>) the agent's.</summary>
public sealed record Run(
    Guid Id, Guid ChatId, int Number, string Status, string? Error, int StepCount, JsonElement? Usage,
    DateTimeOffset CreatedAt, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, string? TraceId)
{
    public double? DurationMs => StartedAt is { } start && CompletedAt is { } end ? (end - start).TotalMilliseconds : null;
}

public sealed record Step(
    Guid Id, Guid RunId, Guid ChatId, int Number, string Status, string? Error, string? MessageId, string? FinishReason, JsonElement? Usage,
    int ChunkCount, DateTimeOffset StartedAt, DateTimeOffset? FirstChunkAt, DateTimeOffset? CompletedAt)
{
    public double? TimeToFirstChunkMs => FirstChunkAt is { } first ? (first - StartedAt).TotalMilliseconds : null;

    public double? DurationMs => CompletedAt is { } end ? (end - StartedAt).TotalMilliseconds : null;
}

/// <summary>The event data of <c>message.chunk.added</c>, as the Blink server sends it (recording 15).</summary>
public sealed record ChunkEvent(string Id, JsonElement Chunk);
