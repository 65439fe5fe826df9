using System.Text;
using System.Text.Json.Nodes;

namespace Hangar.AgentProtocol;

/// <summary>
/// Folds the chunks of one UI message stream into the assistant message, with the semantics of the AI SDK v5
/// (<c>processUIMessageStream</c> in <c>ai</c> 5.0): the parts, their states and the merged metadata come out as the
/// SDK's <c>readUIMessageStream</c> builds them, properties in the same order.
/// </summary>
public sealed class UiMessageBuilder
{
    private readonly JsonArray _parts = [];
    private readonly Dictionary<string, StreamingText> _activeText = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamingText> _activeReasoning = new(StringComparer.Ordinal);
    private readonly Dictionary<string, PartialToolCall> _partialToolCalls = new(StringComparer.Ordinal);
    private JsonObject? _metadata;

    /// <summary>The <c>messageId</c> the agent announced in its <c>start</c> chunk, if any.</summary>
    public string? AgentMessageId { get; private set; }

    /// <summary>The <c>finishReason</c> of the <c>finish</c> chunk (<c>stop</c>, <c>tool-calls</c>, …).</summary>
    public string? FinishReason { get; private set; }

    /// <summary>True once a <c>finish</c> chunk arrived.</summary>
    public bool Finished { get; private set; }

    /// <summary>The <c>errorText</c> of an <c>error</c> chunk: the agent reports that the step failed.</summary>
    public string? ErrorText { get; private set; }

    /// <summary>True when the agent sent <c>abort</c>.</summary>
    public bool Aborted { get; private set; }

    public int ChunkCount { get; private set; }

    /// <summary>Applies one chunk (the JSON of one SSE event) and returns its type.</summary>
    public string Apply(ReadOnlySpan<byte> chunk)
    {
        var type = ChunkScanner.ReadType(chunk);
        ChunkCount++;
        switch (type)
        {
            case "text-delta":
                AppendDelta(_activeText, chunk, "text");
                return type;
            case "reasoning-delta":
                AppendDelta(_activeReasoning, chunk, "reasoning");
                return type;
            case "tool-input-delta":
                AppendToolInputDelta(chunk);
                return type;
        }

        var node = JsonNode.Parse(chunk)!.AsObject();
        switch (type)
        {
            case "text-start":
                StartText(_activeText, node, new JsonObject { ["type"] = "text", ["text"] = string.Empty });
                break;
            case "reasoning-start":
                StartText(_activeReasoning, node, new JsonObject { ["type"] = "reasoning", ["id"] = Clone(node["id"]), ["text"] = string.Empty });
                break;
            case "text-end":
                EndText(_activeText, node, "text");
                break;
            case "reasoning-end":
                EndText(_activeReasoning, node, "reasoning");
                break;
            case "file":
                _parts.Add(new JsonObject { ["type"] = "file", ["mediaType"] = Clone(node["mediaType"]), ["url"] = Clone(node["url"]) });
                break;
            case "source-url":
                _parts.Add(Pick(node, "source-url", "sourceId", "url", "title", "providerMetadata"));
                break;
            case "source-document":
                _parts.Add(Pick(node, "source-document", "sourceId", "mediaType", "title", "filename", "providerMetadata"));
                break;
            case "tool-input-start":
                StartToolInput(node);
                break;
            case "tool-input-available":
                UpdateTool(node, "input-available", existing: null, input: Clone(node["input"]), providerMetadata: node["providerMetadata"]);
                break;
            case "tool-input-error":
                UpdateTool(node, "output-error", existing: null, input: IsTrue(node["dynamic"]) ? Clone(node["input"]) : null,
                    rawInput: IsTrue(node["dynamic"]) ? null : Clone(node["input"]), errorText: Clone(node["errorText"]), providerMetadata: node["providerMetadata"]);
                break;
            case "tool-output-available":
            {
                var part = FindToolPart(node);
                UpdateTool(node, "output-available", part, input: Clone(part["input"]), output: Clone(node["output"]), preliminary: Clone(node["preliminary"]));
                if (node.ContainsKey("output") && node["output"] is null)
                {
                    // A tool may return null; the SDK keeps it as "output": null.
                    part["output"] = null;
                }

                break;
            }

            case "tool-output-error":
            {
                var part = FindToolPart(node);
                UpdateTool(node, "output-error", part, input: Clone(part["input"]), rawInput: IsDynamic(part) ? null : Clone(part["rawInput"]), errorText: Clone(node["errorText"]));
                break;
            }

            case "start-step":
                _parts.Add(new JsonObject { ["type"] = "step-start" });
                break;
            case "finish-step":
                _activeText.Clear();
                _activeReasoning.Clear();
                break;
            case "start":
                AgentMessageId = node["messageId"]?.GetValue<string>();
                MergeMetadata(node["messageMetadata"]);
                break;
            case "finish":
                Finished = true;
                FinishReason = node["finishReason"]?.GetValue<string>() ?? FinishReason;
                MergeMetadata(node["messageMetadata"]);
                break;
            case "message-metadata":
                MergeMetadata(node["messageMetadata"]);
                break;
            case "error":
                ErrorText = node["errorText"]?.ToString() ?? "The agent reported an error.";
                break;
            case "abort":
                Aborted = true;
                break;
            default:
                if (type.StartsWith("data-", StringComparison.Ordinal))
                {
                    ApplyData(type, node);
                }

                // Other types are not part of the v5 protocol; they are streamed to clients but change nothing.
                break;
        }

        return type;
    }

    /// <summary>The message's parts as they stand, streaming text included.</summary>
    public JsonArray BuildParts()
    {
        foreach (var active in _activeText.Values.Concat(_activeReasoning.Values))
        {
            active.Part["text"] = active.Text.ToString();
        }

        return (JsonArray)_parts.DeepClone();
    }

    /// <summary>The merged message metadata, or null when the agent sent none.</summary>
    public JsonObject? BuildMetadata() => (JsonObject?)_metadata?.DeepClone();

    /// <summary>
    /// The parts of a step that ended early (interrupted, failed): streaming text is closed as it stands, and a tool
    /// call still waiting for its output gets an error output, so the history sent to the agent next time stays valid.
    /// </summary>
    public JsonArray BuildPartsOfUnfinishedStep(string reason)
    {
        var parts = BuildParts();
        foreach (var part in parts.OfType<JsonObject>())
        {
            var state = part["state"]?.GetValue<string>();
            if (state == "streaming")
            {
                part["state"] = "done";
            }
            else if (UiMessages.IsToolPart(part) && state is "input-streaming" or "input-available")
            {
                part["state"] = "output-error";
                part["errorText"] = reason;
            }
        }

        return parts;
    }

    private void AppendDelta(Dictionary<string, StreamingText> active, ReadOnlySpan<byte> chunk, string kind)
    {
        var (id, delta, hasProviderMetadata) = ChunkScanner.ReadStrings(chunk, "id"u8, "delta"u8);
        if (id is null || !active.TryGetValue(id, out var part))
        {
            throw new AgentProtocolException($"A {kind}-delta chunk refers to {kind} part '{id}', which was not started with {kind}-start.");
        }

        part.Text.Append(delta);
        if (hasProviderMetadata)
        {
            part.Part["providerMetadata"] = JsonNode.Parse(chunk)!["providerMetadata"]!.DeepClone();
        }
    }

    private void StartText(Dictionary<string, StreamingText> active, JsonObject chunk, JsonObject part)
    {
        if (chunk["providerMetadata"] is { } metadata)
        {
            part["providerMetadata"] = metadata.DeepClone();
        }

        part["state"] = "streaming";
        var id = chunk["id"]?.ToString() ?? throw new AgentProtocolException("A text-start or reasoning-start chunk has no id.");
        active[id] = new StreamingText(part);
        _parts.Add(part);
    }

    private static void EndText(Dictionary<string, StreamingText> active, JsonObject chunk, string kind)
    {
        var id = chunk["id"]?.ToString();
        if (id is null || !active.Remove(id, out var streaming))
        {
            throw new AgentProtocolException($"A {kind}-end chunk refers to {kind} part '{id}', which is not open.");
        }

        streaming.Part["text"] = streaming.Text.ToString();
        if (chunk["providerMetadata"] is { } metadata)
        {
            streaming.Part["providerMetadata"] = metadata.DeepClone();
        }

        streaming.Part["state"] = "done";
    }

    private void StartToolInput(JsonObject chunk)
    {
        var toolCallId = RequireString(chunk, "toolCallId");
        _partialToolCalls[toolCallId] = new PartialToolCall(RequireString(chunk, "toolName"), IsTrue(chunk["dynamic"]));
        UpdateTool(chunk, "input-streaming", existing: null);
    }

    private void AppendToolInputDelta(ReadOnlySpan<byte> chunk)
    {
        var (toolCallId, delta, _) = ChunkScanner.ReadStrings(chunk, "toolCallId"u8, "inputTextDelta"u8);
        if (toolCallId is null || !_partialToolCalls.TryGetValue(toolCallId, out var partial))
        {
            throw new AgentProtocolException($"A tool-input-delta chunk refers to tool call '{toolCallId}', which was not started with tool-input-start.");
        }

        partial.Text.Append(delta);
        var text = partial.Text.ToString();
        var synthetic = new JsonObject { ["toolCallId"] = toolCallId, ["toolName"] = partial.ToolName, ["dynamic"] = partial.Dynamic };
        UpdateTool(synthetic, "input-streaming", existing: null, input: PartialJson.TryParse(text), rawInput: text);
    }

    /// <summary><c>updateToolPart</c> and <c>updateDynamicToolPart</c> of the SDK: every field is set, absent ones cleared.</summary>
    private void UpdateTool(
        JsonObject chunk, string state, JsonObject? existing, JsonNode? input = null, JsonNode? output = null,
        JsonNode? rawInput = null, JsonNode? errorText = null, JsonNode? preliminary = null, JsonNode? providerMetadata = null)
    {
        var toolCallId = RequireString(chunk, "toolCallId");
        var dynamic = existing is not null ? IsDynamic(existing) : IsTrue(chunk["dynamic"]);
        var part = existing ?? CurrentStepParts().FirstOrDefault(p => p["toolCallId"]?.ToString() == toolCallId && (dynamic ? IsDynamic(p) : UiMessages.IsStaticToolPart(p)));
        var providerExecuted = Clone(chunk["providerExecuted"]);
        if (part is null)
        {
            var toolName = RequireString(chunk, "toolName");
            part = dynamic
                ? new JsonObject { ["type"] = "dynamic-tool", ["toolName"] = toolName, ["toolCallId"] = toolCallId, ["state"] = state }
                : new JsonObject { ["type"] = "tool-" + toolName, ["toolCallId"] = toolCallId, ["state"] = state };
            Set(part, "input", input);
            Set(part, "output", output);
            if (!dynamic)
            {
                Set(part, "rawInput", rawInput);
            }

            Set(part, "errorText", errorText);
            if (dynamic)
            {
                Set(part, "preliminary", preliminary);
                Set(part, "providerExecuted", providerExecuted);
            }
            else
            {
                Set(part, "providerExecuted", providerExecuted);
                Set(part, "preliminary", preliminary);
            }

            if (providerMetadata is not null)
            {
                part["callProviderMetadata"] = providerMetadata.DeepClone();
            }

            _parts.Add(part);
            return;
        }

        part["state"] = state;
        if (dynamic && chunk["toolName"] is { } name)
        {
            part["toolName"] = name.DeepClone();
        }

        Set(part, "input", input);
        Set(part, "output", output);
        Set(part, "errorText", errorText);
        Set(part, "rawInput", rawInput);
        Set(part, "preliminary", preliminary);
        if (providerExecuted is not null)
        {
            part["providerExecuted"] = providerExecuted;
        }

        if (providerMetadata is not null && state == "input-available")
        {
            part["callProviderMetadata"] = providerMetadata.DeepClone();
        }
    }

    private JsonObject FindToolPart(JsonObject chunk)
    {
        var toolCallId = RequireString(chunk, "toolCallId");
        var dynamic = IsTrue(chunk["dynamic"]);
        bool Matches(JsonObject p) => p["toolCallId"]?.ToString() == toolCallId && (dynamic ? IsDynamic(p) : UiMessages.IsStaticToolPart(p));
        return CurrentStepParts().FirstOrDefault(Matches)
            ?? _parts.OfType<JsonObject>().LastOrDefault(Matches)
            ?? throw new AgentProtocolException($"A tool output for '{toolCallId}' arrived before its tool-input-available.");
    }

    private void ApplyData(string type, JsonObject chunk)
    {
        if (IsTrue(chunk["transient"]))
        {
            return;
        }

        var id = chunk["id"]?.ToString();
        var existing = id is null ? null : _parts.OfType<JsonObject>().FirstOrDefault(p => p["type"]?.ToString() == type && p["id"]?.ToString() == id);
        if (existing is not null)
        {
            existing["data"] = Clone(chunk["data"]);
        }
        else
        {
            _parts.Add(chunk.DeepClone());
        }
    }

    private IEnumerable<JsonObject> CurrentStepParts()
    {
        var start = _parts.Count - 1;
        while (start >= 0 && _parts[start]?["type"]?.ToString() != "step-start")
        {
            start--;
        }

        for (var i = start + 1; i < _parts.Count; i++)
        {
            yield return (JsonObject)_parts[i]!;
        }
    }

    private void MergeMetadata(JsonNode? metadata)
    {
        if (metadata is JsonObject incoming)
        {
            _metadata = _metadata is null ? (JsonObject)incoming.DeepClone() : UiMessages.Merge(_metadata, incoming);
        }
        else if (metadata is not null)
        {
            throw new AgentProtocolException("messageMetadata must be a JSON object.");
        }
    }

    private static JsonObject Pick(JsonObject chunk, string type, params ReadOnlySpan<string> fields)
    {
        var part = new JsonObject { ["type"] = type };
        foreach (var field in fields)
        {
            Set(part, field, Clone(chunk[field]));
        }

        return part;
    }

    private static void Set(JsonObject part, string name, JsonNode? value)
    {
        if (value is null)
        {
            part.Remove(name);
        }
        else
        {
            part[name] = value;
        }
    }

    private static JsonNode? Clone(JsonNode? node) => node?.DeepClone();

    private static bool IsTrue(JsonNode? node) => node is JsonValue value && value.TryGetValue<bool>(out var b) && b;

    private static bool IsDynamic(JsonObject part) => part["type"]?.ToString() == "dynamic-tool";

    private static string RequireString(JsonObject chunk, string name) =>
        chunk[name] is JsonValue value && value.TryGetValue<string>(out var s)
            ? s
            : throw new AgentProtocolException($"A {chunk["type"]} chunk has no string '{name}'.");

    private sealed class StreamingText(JsonObject part)
    {
        public JsonObject Part { get; } = part;

        public StringBuilder Text { get; } = new();
    }

    private sealed class PartialToolCall(string toolName, bool dynamic)
    {
        public string ToolName { get; } = toolName;

        public bool Dynamic { get; } = dynamic;

        public StringBuilder Text { get; } = new();
    }
}
