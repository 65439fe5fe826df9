using System.Text.Json.Nodes;

namespace Hangar.AgentProtocol;

/// <summary>Rules about UIMessages that the platform applies: the tool loop, and the SDK's metadata merge.</summary>
public static class UiMessages
{
    public static bool IsStaticToolPart(JsonObject part) => part["type"]?.ToString() is { } type && type.StartsWith("tool-", StringComparison.Ordinal);

    public static bool IsToolPart(JsonObject part) => IsStaticToolPart(part) || part["type"]?.ToString() == "dynamic-tool";

    /// <summary>
    /// The tool loop rule (PROTOCOL.md §3): call the agent again when the last step of the message has at least one
    /// tool part, every one has an output, and none is an approval that is still pending.
    /// </summary>
    public static bool ShouldContinueToolLoop(JsonArray parts)
    {
        var start = parts.Count - 1;
        while (start >= 0 && parts[start]?["type"]?.ToString() != "step-start")
        {
            start--;
        }

        var tools = parts.Skip(start + 1).OfType<JsonObject>().Where(IsToolPart).ToList();
        return tools.Count > 0 && tools.All(tool =>
        {
            var state = tool["state"]?.ToString();
            var pendingApproval = tool["output"] is JsonObject output
                && output["type"]?.ToString() == "tool-approval"
                && output["outcome"]?.ToString() == "pending";
            return state is "output-available" or "output-error" && !pendingApproval;
        });
    }

    /// <summary>The SDK's <c>mergeObjects</c>: nested plain objects merge, anything else is replaced.</summary>
    public static JsonObject Merge(JsonObject target, JsonObject overrides)
    {
        foreach (var (key, value) in overrides)
        {
            if (value is JsonObject incoming && target[key] is JsonObject existing)
            {
                Merge(existing, incoming);
            }
            else
            {
                target[key] = value?.DeepClone();
            }
        }

        return target;
    }
}
