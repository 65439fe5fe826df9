using System.Buffers;

namespace Hangar.Redis;

/// <summary>
/// Finds where a reply that arrives over many reads ends, without building it, and remembers how far it got. A large
/// reply (an <c>XREAD</c> over many busy streams runs to megabytes) is then scanned once in all and parsed once at
/// the end, instead of parsed again from its start after every read.
/// </summary>
internal sealed class RespScanner
{
    /// <summary>For each array still open, innermost last: how many of its elements have not been scanned.</summary>
    private readonly Stack<long> _open = new();

    /// <summary>Bytes from the reply's start that are scanned: every value before this offset is complete.</summary>
    private long _scanned;

    /// <summary>True between a scan that found the reply incomplete and the scan that finds its end.</summary>
    public bool Pending => _scanned > 0 || _open.Count > 0;

    /// <summary>
    /// Continues scanning the reply that starts at the beginning of <paramref name="buffer"/>. True when the buffer
    /// holds all of it (the scanner is then ready for the next reply); false when more bytes are needed.
    /// </summary>
    public bool TryComplete(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        reader.Advance(_scanned);
        while (true)
        {
            var valueStart = reader.Consumed;
            if (!TrySkipValueHeader(ref reader, out var opensArray))
            {
                _scanned = valueStart;
                return false;
            }

            if (opensArray)
            {
                continue;
            }

            // A value is complete: so is every array whose last element it was.
            while (_open.Count > 0)
            {
                var left = _open.Pop() - 1;
                if (left > 0)
                {
                    _open.Push(left);
                    break;
                }
            }

            if (_open.Count == 0)
            {
                _scanned = 0;
                return true;
            }
        }
    }

    /// <summary>
    /// Skips one value, or only the header of a non-empty array, whose elements follow (<paramref name="opensArray"/>).
    /// False, having changed nothing, when the buffer ends inside it.
    /// </summary>
    private bool TrySkipValueHeader(ref SequenceReader<byte> reader, out bool opensArray)
    {
        opensArray = false;
        if (!reader.TryRead(out var prefix) || !reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
        {
            return false;
        }

        switch (prefix)
        {
            case (byte)'+' or (byte)'-' or (byte)':':
                return true;
            case (byte)'$':
                var length = RespParser.ParseInteger(line);
                if (length < 0)
                {
                    return true;
                }

                if (reader.Remaining < length + 2)
                {
                    return false;
                }

                reader.Advance(length + 2);
                return true;
            case (byte)'*':
                var count = RespParser.ParseInteger(line);
                if (count > 0)
                {
                    _open.Push(count);
                    opensArray = true;
                }

                return true;
            default:
                throw new RedisConnectionException($"Unexpected RESP type byte 0x{prefix:x2}: the stream is out of step.");
        }
    }
}
