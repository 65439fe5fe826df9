using System.Buffers;
using System.Text.Json;

namespace Hangar.AgentProtocol;

/// <summary>One message of the history as stored: its parts and metadata are raw JSON, passed through untouched.</summary>
public sealed record StoredUiMessage(string Id, string Role, ReadOnlyMemory<byte> PartsJson, ReadOnlyMemory<byte>? MetadataJson);

/// <summary>
/// The body of <c>POST /_agent/chat</c>: <c>{"id": chatId, "messages": UIMessage[]}</c>, with <c>"metadata": null</c>
/// where a message has none (recording 03-chat-text and 16-17-server-to-agent-requests).
/// </summary>
public static class ChatRequestBody
{
    public static void Write(IBufferWriter<byte> output, string chatId, IEnumerable<StoredUiMessage> messages)
    {
        using var writer = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        writer.WriteStartObject();
        writer.WriteString("id"u8, chatId);
        writer.WriteStartArray("messages"u8);
        foreach (var message in messages)
        {
            writer.WriteStartObject();
            writer.WriteString("id"u8, message.Id);
            writer.WriteString("role"u8, message.Role);
            writer.WritePropertyName("parts"u8);
            writer.WriteRawValue(message.PartsJson.Span, skipInputValidation: true);
            writer.WritePropertyName("metadata"u8);
            if (message.MetadataJson is { IsEmpty: false } metadata)
            {
                writer.WriteRawValue(metadata.Span, skipInputValidation: true);
            }
            else
            {
                writer.WriteNullValue();
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
