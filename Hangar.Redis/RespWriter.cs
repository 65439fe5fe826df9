using System.Buffers;
using System.Buffers.Text;

namespace Hangar.Redis;

/// <summary>Encodes commands as RESP arrays of bulk strings.</summary>
internal static class RespWriter
{
    public static void WriteCommand(IBufferWriter<byte> writer, ReadOnlySpan<RedisArg> args)
    {
        WriteHeader(writer, (byte)'*', args.Length);
        foreach (var arg in args)
        {
            var length = arg.ByteCount;
            WriteHeader(writer, (byte)'$', length);
            var span = writer.GetSpan(length + 2);
            var written = arg.Write(span);
            span[written] = (byte)'\r';
            span[written + 1] = (byte)'\n';
            writer.Advance(written + 2);
        }
    }

    private static void WriteHeader(IBufferWriter<byte> writer, byte prefix, int value)
    {
        var span = writer.GetSpan(16);
        span[0] = prefix;
        Utf8Formatter.TryFormat(value, span[1..], out var digits);
        span[1 + digits] = (byte)'\r';
        span[2 + digits] = (byte)'\n';
        writer.Advance(3 + digits);
    }
}
