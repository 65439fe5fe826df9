using System.Buffers;
using System.Globalization;
using System.Text;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// An event's id, which is also a resume position: the stream entry that holds the event and the event's index in
/// it. An entry's last event is named by the entry id alone (<see cref="Whole"/>: reading after it continues with the
/// next entry); the events before it by <c>{entry}.{index}</c> (reading after one continues in the same entry).
/// Most entries hold one event, whose id is then the Redis entry id.
/// </summary>
public readonly record struct EventId(StreamId Entry, int Index) : IComparable<EventId>
{
    /// <summary>The index that stands for an entry's last event, whatever the number of events it holds.</summary>
    public const int Whole = int.MaxValue;

    public static readonly EventId Zero = EndOf(StreamId.Zero);

    /// <summary>The position after every event of <paramref name="entry"/>.</summary>
    public static EventId EndOf(StreamId entry) => new(entry, Whole);

    /// <summary>The id of event <paramref name="index"/> of an entry that holds <paramref name="count"/>.</summary>
    public static EventId Of(StreamId entry, int index, int count) => new(entry, index == count - 1 ? Whole : index);

    public static bool TryParse(string? text, out EventId id)
    {
        id = Zero;
        var dot = text?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        if (dot < 0)
        {
            var parsed = StreamId.TryParse(text, out var whole);
            id = EndOf(whole);
            return parsed;
        }

        if (!StreamId.TryParse(text![..dot], out var entry)
            || !int.TryParse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || index == Whole)
        {
            return false;
        }

        id = new EventId(entry, index);
        return true;
    }

    public int CompareTo(EventId other) => Entry != other.Entry ? Entry.CompareTo(other.Entry) : Index.CompareTo(other.Index);

    public static bool operator <(EventId left, EventId right) => left.CompareTo(right) < 0;

    public static bool operator >(EventId left, EventId right) => left.CompareTo(right) > 0;

    public static bool operator <=(EventId left, EventId right) => left.CompareTo(right) <= 0;

    public static bool operator >=(EventId left, EventId right) => left.CompareTo(right) >= 0;

    /// <summary>Writes the id as ASCII: the entry id as Redis wrote it, and the index when the event is not the entry's last.</summary>
    public void WriteTo(IBufferWriter<byte> buffer, string entryId)
    {
        Encoding.ASCII.GetBytes(entryId, buffer);
        if (Index != Whole)
        {
            var span = buffer.GetSpan(12);
            span[0] = (byte)'.';
            Index.TryFormat(span[1..], out var written, provider: CultureInfo.InvariantCulture);
            buffer.Advance(written + 1);
        }
    }

    public override string ToString() => Index == Whole ? Entry.ToString() : string.Create(CultureInfo.InvariantCulture, $"{Entry}.{Index}");
}
