using System.Buffers.Binary;
using System.Text;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// A forward-only reader of the protobuf wire format over a span: just what OTLP needs (varints, fixed 32 and 64,
/// length-delimited fields). Nested messages are read in place, without copying. Malformed input throws
/// <see cref="OtlpFormatException"/>.
/// </summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    public const int Varint = 0;
    public const int Fixed64 = 1;
    public const int LengthDelimited = 2;
    public const int Fixed32 = 5;

    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly bool End => _position >= _data.Length;

    /// <summary>The next field's number and wire type.</summary>
    public (int Field, int WireType) ReadTag()
    {
        var tag = ReadVarint();
        var field = (int)(tag >> 3);
        if (field <= 0)
        {
            throw new OtlpFormatException($"Invalid protobuf field number at byte {_position}.");
        }

        return (field, (int)(tag & 7));
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _data.Length)
            {
                throw new OtlpFormatException("The protobuf payload ends inside a varint.");
            }

            var b = _data[_position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new OtlpFormatException($"A varint longer than 10 bytes at byte {_position}.");
    }

    public ulong ReadFixed64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public uint ReadFixed32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public ReadOnlySpan<byte> ReadBytes()
    {
        var length = ReadVarint();
        if (length > (ulong)(_data.Length - _position))
        {
            throw new OtlpFormatException($"A length-delimited field of {length} bytes runs past the end of the payload.");
        }

        return Take((int)length);
    }

    public string ReadString()
    {
        var bytes = ReadBytes();
        try
        {
            return Utf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new OtlpFormatException("A string field is not valid UTF-8.");
        }
    }

    /// <summary>Skips a field of the given wire type (fields this reader does not use).</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case Varint: ReadVarint(); break;
            case Fixed64: Take(8); break;
            case LengthDelimited: ReadBytes(); break;
            case Fixed32: Take(4); break;
            default: throw new OtlpFormatException($"Unsupported protobuf wire type {wireType}.");
        }
    }

    /// <summary>Throws unless the field has the wire type its schema gives it.</summary>
    public static void Expect(int wireType, int expected, string field)
    {
        if (wireType != expected)
        {
            throw new OtlpFormatException($"The field '{field}' has wire type {wireType}, expected {expected}.");
        }
    }

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _data.Length - _position)
        {
            throw new OtlpFormatException("The protobuf payload ends inside a field.");
        }

        var slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }
}
