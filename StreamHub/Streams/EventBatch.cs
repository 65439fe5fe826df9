using System.Buffers;
using System.Text;
using Hangar.Contracts;
using Hangar.Redis;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// Events of one chat as read from Redis in one round trip, shared by every subscriber of the chat on this node. Each
/// wire format is encoded once, the first time a subscriber needs it: SSE frames for all events together, one JSON
/// text frame per event for WebSockets. <see cref="GapBefore"/> is set when the reader found events before the batch
/// trimmed away unread (it fell that far behind): subscribers get a <c>reset</c> first.
/// </summary>
public sealed class EventBatch(IReadOnlyList<RedisStreamEntry> entries, StreamId? gapBefore = null)
{
    private byte[]? _sse;
    private ReadOnlyMemory<byte>[]? _json;

    public IReadOnlyList<RedisStreamEntry> Entries { get; } = entries;

    public StreamId First { get; } = StreamId.Parse(entries[0].Id);

    public StreamId Last { get; } = StreamId.Parse(entries[^1].Id);

    /// <summary>When events before this batch were lost to trimming: the position to resume after (just before it).</summary>
    public StreamId? GapBefore { get; } = gapBefore;

    /// <summary>Every event as <c>id:</c>, <c>event:</c>, <c>data:</c> lines.</summary>
    public ReadOnlyMemory<byte> Sse => _sse ??= EncodeSse(Entries);

    /// <summary>Every event as <c>{"id":…,"event":…,"data":…}</c>, one per WebSocket frame.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Json => _json ??= [.. Entries.Select(EncodeJson)];

    public static byte[] EncodeSse(IEnumerable<RedisStreamEntry> entries)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        foreach (var entry in entries)
        {
            WriteSse(buffer, entry.Id, entry[ChatEvents.TypeField].Span, entry[ChatEvents.DataField].Span);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static void WriteSse(IBufferWriter<byte> buffer, string id, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        buffer.Write("id: "u8);
        Encoding.UTF8.GetBytes(id, buffer);
        buffer.Write("\nevent: "u8);
        buffer.Write(type);
        buffer.Write("\ndata: "u8);
        buffer.Write(data);
        buffer.Write("\n\n"u8);
    }

    public static ReadOnlyMemory<byte> EncodeJson(RedisStreamEntry entry) =>
        EncodeJson(entry.Id, entry[ChatEvents.TypeField].Span, entry[ChatEvents.DataField].Span);

    /// <summary>The type and id are ASCII (Redis ids, event names); the data is already JSON.</summary>
    public static ReadOnlyMemory<byte> EncodeJson(string id, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        var buffer = new ArrayBufferWriter<byte>(data.Length + 64);
        buffer.Write("{\"id\":\""u8);
        Encoding.UTF8.GetBytes(id, buffer);
        buffer.Write("\",\"event\":\""u8);
        buffer.Write(type);
        buffer.Write("\",\"data\":"u8);
        buffer.Write(data);
        buffer.Write("}"u8);
        return buffer.WrittenMemory;
    }
}
