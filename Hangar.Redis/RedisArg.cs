using System.Globalization;
using System.Text;

namespace Hangar.Redis;

/// <summary>A command argument: text, a number or raw bytes, written as one RESP bulk string.</summary>
public readonly struct RedisArg
{
    private readonly string? _text;
    private readonly ReadOnlyMemory<byte> _bytes;

    private RedisArg(string? text, ReadOnlyMemory<byte> bytes)
    {
        _text = text;
        _bytes = bytes;
    }

    public static implicit operator RedisArg(string value) => new(value, default);

    public static implicit operator RedisArg(long value) => new(value.ToString(CultureInfo.InvariantCulture), default);

    public static implicit operator RedisArg(ReadOnlyMemory<byte> value) => new(null, value);

    public static implicit operator RedisArg(byte[] value) => new(null, value);

    internal int ByteCount => _text is null ? _bytes.Length : Encoding.UTF8.GetByteCount(_text);

    internal int Write(Span<byte> destination)
    {
        if (_text is null)
        {
            _bytes.Span.CopyTo(destination);
            return _bytes.Length;
        }

        return Encoding.UTF8.GetBytes(_text, destination);
    }

    public override string ToString() => _text ?? Encoding.UTF8.GetString(_bytes.Span);
}
