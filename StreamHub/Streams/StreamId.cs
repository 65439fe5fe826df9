using System.Globalization;

namespace Hangar.StreamHub.Streams;

/// <summary>A Redis stream entry id (<c>milliseconds-sequence</c>), ordered as Redis orders them.</summary>
public readonly record struct StreamId(ulong Milliseconds, ulong Sequence) : IComparable<StreamId>
{
    public static readonly StreamId Zero = new(0, 0);

    public static bool TryParse(string? text, out StreamId id)
    {
        id = Zero;
        var dash = text?.IndexOf('-', StringComparison.Ordinal) ?? -1;
        if (dash <= 0
            || !ulong.TryParse(text.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds)
            || !ulong.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
        {
            return false;
        }

        id = new StreamId(milliseconds, sequence);
        return true;
    }

    public static StreamId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not a stream entry id.");

    /// <summary>The greatest id below this one: reading after it starts at this one.</summary>
    public StreamId Previous => Sequence > 0 ? new(Milliseconds, Sequence - 1) : Milliseconds > 0 ? new(Milliseconds - 1, ulong.MaxValue) : Zero;

    public int CompareTo(StreamId other) =>
        Milliseconds != other.Milliseconds ? Milliseconds.CompareTo(other.Milliseconds) : Sequence.CompareTo(other.Sequence);

    public static bool operator <(StreamId left, StreamId right) => left.CompareTo(right) < 0;

    public static bool operator >(StreamId left, StreamId right) => left.CompareTo(right) > 0;

    public static bool operator <=(StreamId left, StreamId right) => left.CompareTo(right) <= 0;

    public static bool operator >=(StreamId left, StreamId right) => left.CompareTo(right) >= 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Milliseconds}-{Sequence}");
}
