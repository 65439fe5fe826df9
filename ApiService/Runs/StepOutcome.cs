using System.Text.Json.Nodes;

namespace Hangar.ApiService.Runs;

/// <summary>How one agent call ended, and the assistant message it produced.</summary>
internal sealed record StepOutcome(
    string Status, string? Error, string MessageId, JsonArray Parts, JsonObject? Metadata, string? FinishReason,
    int ChunkCount, DateTimeOffset? FirstChunkAt, bool ContinueToolLoop)
{
    /// <summary>The step's usage as the AI SDK reports it: <c>totalUsage</c>, else <c>usage</c>, from the message metadata.</summary>
    public JsonObject? Usage => (Metadata?["totalUsage"] ?? Metadata?["usage"]) is JsonObject usage ? (JsonObject)usage.DeepClone() : null;
}
