using System.Buffers;
using Hangar.Contracts;
using Hangar.Redis;

namespace Hangar.StreamHub.Streams;

/// <summary>One event of a chat's stream: its id, its type and its JSON data, as Redis returned them.</summary>
public readonly record struct StreamEvent(EventId Id, string EntryId, ReadOnlyMemory<byte> Type, ReadOnlyMemory<byte> Data)
{
    /// <summary>The events an entry holds: its <c>type</c>, <c>data</c> pairs in order (see <see cref="ChatEvents"/>).</summary>
    public static IEnumerable<StreamEvent> In(RedisStreamEntry entry)
    {
        var id = StreamId.Parse(entry.Id);
        var count = entry.Fields.Count / 2;
        for (var i = 0; i < count; i++)
        {
            yield return new(EventId.Of(id, i, count), entry.Id, entry.Fields[2 * i].Value, entry.Fields[(2 * i) + 1].Value);
        }
    }

    public static IEnumerable<StreamEvent> In(IEnumerable<RedisStreamEntry> entries) => entries.SelectMany(In);
}

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

    /// <summary>How many events the entries hold.</summary>
    public int Count { get; } = entries.Sum(e => e.Fields.Count / 2);

    public EventId First { get; } = EventId.Of(StreamId.Parse(entries[0].Id), 0, entries[0].Fields.Count / 2);

    /// <summary>The last entry: where the chat's reader goes on from.</summary>
    public StreamId LastEntry { get; } = StreamId.Parse(entries[^1].Id);

    public EventId Last => EventId.EndOf(LastEntry);

    /// <summary>When events before this batch were lost to trimming: the position to resume after (just before it).</summary>
    public StreamId? GapBefore { get; } = gapBefore;

    public IEnumerable<StreamEvent> Events => StreamEvent.In(Entries);

    /// <summary>Every event as <c>id:</c>, <c>event:</c>, <c>data:</c> lines.</summary>
    public ReadOnlyMemory<byte> Sse => _sse ??= EncodeSse(Events);

    /// <summary>Every event as <c>{"id":…,"event":…,"data":…}</c>, one per WebSocket frame.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Json => _json ??= [.. Events.Select(EncodeJson)];

    /// <summary>The events after <paramref name="after"/>.</summary>
    public IEnumerable<StreamEvent> After(EventId after) => Events.Where(e => e.Id > after);

    public static byte[] EncodeSse(IEnumerable<StreamEvent> events)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        foreach (var e in events)
        {
            WriteSse(buffer, e.Id, e.EntryId, e.Type.Span, e.Data.Span);
        }

        return buffer.WrittenSpan.ToArray();
    }

    public static void WriteSse(IBufferWriter<byte> buffer, EventId id, string entryId, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        buffer.Write("id: "u8);
        id.WriteTo(buffer, entryId);
        buffer.Write("\nevent: "u8);
        buffer.Write(type);
        buffer.Write("\ndata: "u8);
        buffer.Write(data);
        buffer.Write("\n\n"u8);
    }

    public static ReadOnlyMemory<byte> EncodeJson(StreamEvent e) => EncodeJson(e.Id, e.EntryId, e.Type.Span, e.Data.Span);

    /// <summary>The type and id are ASCII (Redis ids, event names); the data is already JSON.</summary>
    public static ReadOnlyMemory<byte> EncodeJson(EventId id, string entryId, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        var buffer = new ArrayBufferWriter<byte>(data.Length + 64);
        buffer.Write("{\"id\":\""u8);
        id.WriteTo(buffer, entryId);
        buffer.Write("\",\"event\":\""u8);
        buffer.Write(type);
        buffer.Write("\",\"data\":"u8);
        buffer.Write(data);
        buffer.Write("}"u8);
        return buffer.WrittenMemory;
    }
}
