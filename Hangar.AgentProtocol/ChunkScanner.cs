using System.Text.Json;

namespace Hangar.AgentProtocol;

/// <summary>
/// Reads top-level string properties of a chunk without building a DOM: the hot path for the deltas that make up
/// nearly every chunk of a reply.
/// </summary>
internal static class ChunkScanner
{
    /// <summary>The chunk's <c>type</c>; throws when the chunk is not a JSON object with a string <c>type</c>.</summary>
    public static string ReadType(ReadOnlySpan<byte> chunk)
    {
        string? type = null;
        try
        {
            var reader = new Utf8JsonReader(chunk);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new AgentProtocolException($"A chunk from the agent is not a JSON object: {Preview(chunk)}");
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isType = reader.ValueTextEquals("type"u8);
                reader.Read();
                if (isType && reader.TokenType == JsonTokenType.String)
                {
                    type = reader.GetString();
                }
                else
                {
                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                throw new AgentProtocolException($"A chunk from the agent is not one JSON object: {Preview(chunk)}");
            }
        }
        catch (JsonException ex)
        {
            throw new AgentProtocolException($"A chunk from the agent is not valid JSON ({ex.Message}): {Preview(chunk)}", ex);
        }

        return type ?? throw new AgentProtocolException($"A chunk from the agent has no string 'type': {Preview(chunk)}");
    }

    /// <summary>
    /// Reads two top-level string properties (for example <c>id</c> and <c>delta</c>; absent ones are null) and whether
    /// the chunk carries <c>providerMetadata</c>, in one pass: deltas are nearly every chunk of a reply.
    /// </summary>
    public static (string? First, string? Second, bool HasProviderMetadata) ReadStrings(ReadOnlySpan<byte> chunk, ReadOnlySpan<byte> first, ReadOnlySpan<byte> second)
    {
        string? a = null, b = null;
        var providerMetadata = false;
        var reader = new Utf8JsonReader(chunk);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isFirst = reader.ValueTextEquals(first);
            var isSecond = !isFirst && reader.ValueTextEquals(second);
            providerMetadata |= !isFirst && !isSecond && reader.ValueTextEquals("providerMetadata"u8);
            reader.Read();
            if (isFirst && reader.TokenType == JsonTokenType.String)
            {
                a = reader.GetString();
            }
            else if (isSecond && reader.TokenType == JsonTokenType.String)
            {
                b = reader.GetString();
            }
            else
            {
                reader.Skip();
            }
        }

        return (a, b, providerMetadata);
    }

    public static string Preview(ReadOnlySpan<byte> chunk)
    {
        var text = System.Text.Encoding.UTF8.GetString(chunk[..Math.Min(chunk.Length, 120)]);
        return chunk.Length > 120 ? text + "…" : text;
    }
}
