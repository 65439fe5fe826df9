using System.Buffers;
using System.Buffers.Text;

namespace Hangar.Redis;

/// <summary>Parses RESP2 replies from a byte sequence that may end in the middle of one.</summary>
internal static class RespParser
{
    /// <summary>
    /// Reads one complete reply. Returns false, consuming nothing, when the buffer does not hold a whole reply yet.
    /// </summary>
    public static bool TryRead(ref SequenceReader<byte> reader, out RedisReply reply)
    {
        var start = reader.Consumed;
        if (TryReadValue(ref reader, out reply))
        {
            return true;
        }

        reader.Rewind(reader.Consumed - start);
        return false;
    }

    private static bool TryReadValue(ref SequenceReader<byte> reader, out RedisReply reply)
    {
        reply = RedisReply.Null;
        if (!reader.TryRead(out var prefix) || !reader.TryReadTo(out ReadOnlySequence<byte> line, "\r\n"u8))
        {
            return false;
        }

        switch (prefix)
        {
            case (byte)'+':
                reply = RedisReply.Simple(line.ToArray());
                return true;
            case (byte)'-':
                reply = RedisReply.Error(line.ToArray());
                return true;
            case (byte)':':
                reply = RedisReply.Int(ParseInteger(line));
                return true;
            case (byte)'$':
            {
                var length = ParseInteger(line);
                if (length < 0)
                {
                    reply = RedisReply.Null;
                    return true;
                }

                if (reader.Remaining < length + 2)
                {
                    return false;
                }

                var bytes = new byte[length];
                reader.TryCopyTo(bytes);
                reader.Advance(length + 2);
                reply = RedisReply.Bulk(bytes);
                return true;
            }

            case (byte)'*':
            {
                var count = ParseInteger(line);
                if (count < 0)
                {
                    reply = RedisReply.Null;
                    return true;
                }

                var elements = new RedisReply[count];
                for (var i = 0; i < count; i++)
                {
                    if (!TryReadValue(ref reader, out elements[i]))
                    {
                        return false;
                    }
                }

                reply = RedisReply.Array(elements);
                return true;
            }

            default:
                throw new RedisConnectionException($"Unexpected RESP type byte 0x{prefix:x2}: the stream is out of step.");
        }
    }

    internal static long ParseInteger(ReadOnlySequence<byte> line)
    {
        Span<byte> scratch = stackalloc byte[24];
        var span = line.IsSingleSegment ? line.FirstSpan : Copy(line, scratch);
        if (!Utf8Parser.TryParse(span, out long value, out var consumed) || consumed != span.Length)
        {
            throw new RedisConnectionException("Malformed RESP length or integer.");
        }

        return value;
    }

    private static ReadOnlySpan<byte> Copy(ReadOnlySequence<byte> line, Span<byte> scratch)
    {
        if (line.Length > scratch.Length)
        {
            throw new RedisConnectionException("Malformed RESP length or integer.");
        }

        line.CopyTo(scratch);
        return scratch[..(int)line.Length];
    }
}
