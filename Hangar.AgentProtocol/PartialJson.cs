using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Hangar.AgentProtocol;

/// <summary>
/// Best-effort parse of a JSON text that is still being streamed (a tool call's input as it grows), as the AI SDK's
/// <c>parsePartialJson</c> does: close what is open and parse. Returns null when even that fails; the final
/// <c>tool-input-available</c> chunk replaces the partial input anyway.
/// </summary>
internal static class PartialJson
{
    public static JsonNode? TryParse(string text)
    {
        if (TryParseExact(text, out var node))
        {
            return node;
        }

        var repaired = Repair(text);
        return repaired is not null && TryParseExact(repaired, out node) ? node : null;
    }

    private static bool TryParseExact(string text, out JsonNode? node)
    {
        try
        {
            node = JsonNode.Parse(text);
            return true;
        }
        catch (JsonException)
        {
            node = null;
            return false;
        }
    }

    private static string? Repair(string text)
    {
        var closers = new Stack<char>();
        var inString = false;
        var escaped = false;
        var lastSafe = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (escaped)
                {
                    escaped = false;
                }
                else if (c == '\\')
                {
                    escaped = true;
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{':
                    closers.Push('}');
                    break;
                case '[':
                    closers.Push(']');
                    break;
                case '}' or ']':
                    if (closers.Count > 0)
                    {
                        closers.Pop();
                    }

                    break;
                case ',':
                    lastSafe = i;
                    break;
            }
        }

        var builder = new StringBuilder(text);
        if (inString)
        {
            if (escaped)
            {
                builder.Length--;
            }

            builder.Append('"');
        }

        var trimmed = builder.ToString().TrimEnd();
        if (trimmed.EndsWith(',') || trimmed.EndsWith(':'))
        {
            trimmed = text[..lastSafe];
        }

        var result = new StringBuilder(trimmed);
        foreach (var closer in closers)
        {
            result.Append(closer);
        }

        return result.ToString();
    }
}
