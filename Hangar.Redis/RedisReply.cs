using System.Globalization;
using System.Text;

namespace Hangar.Redis;

public enum RedisReplyKind
{
    SimpleString,
    Error,
    Integer,
    BulkString,
    Array,
    Null,
}

/// <summary>One RESP2 reply. Bulk strings keep their bytes; text is decoded on demand.</summary>
public sealed class RedisReply
{
    public static readonly RedisReply Null = new(RedisReplyKind.Null, null, 0, null);

    private static readonly RedisReply[] EmptyArray = [];

    private readonly byte[]? _bytes;
    private readonly RedisReply[]? _elements;

    private RedisReply(RedisReplyKind kind, byte[]? bytes, long integer, RedisReply[]? elements)
    {
        Kind = kind;
        _bytes = bytes;
        Integer = integer;
        _elements = elements;
    }

    public RedisReplyKind Kind { get; }

    public long Integer { get; }

    public bool IsNull => Kind == RedisReplyKind.Null;

    public ReadOnlySpan<byte> Bytes => _bytes;

    public ReadOnlyMemory<byte> Memory => _bytes;

    public IReadOnlyList<RedisReply> Elements => _elements ?? EmptyArray;

    public RedisReply this[int index] => Elements[index];

    public int Count => _elements?.Length ?? 0;

    internal static RedisReply Simple(byte[] bytes) => new(RedisReplyKind.SimpleString, bytes, 0, null);

    internal static RedisReply Error(byte[] bytes) => new(RedisReplyKind.Error, bytes, 0, null);

    internal static RedisReply Bulk(byte[] bytes) => new(RedisReplyKind.BulkString, bytes, 0, null);

    internal static RedisReply Int(long value) => new(RedisReplyKind.Integer, null, value, null);

    internal static RedisReply Array(RedisReply[] elements) => new(RedisReplyKind.Array, null, 0, elements);

    public string? AsString() => Kind switch
    {
        RedisReplyKind.Null => null,
        RedisReplyKind.Integer => Integer.ToString(CultureInfo.InvariantCulture),
        _ => _bytes is null ? null : Encoding.UTF8.GetString(_bytes),
    };

    public long AsInteger() => Kind == RedisReplyKind.Integer
        ? Integer
        : long.Parse(AsString() ?? throw new InvalidOperationException("The reply is null."), CultureInfo.InvariantCulture);

    public override string ToString() => Kind switch
    {
        RedisReplyKind.Array => $"[{string.Join(", ", Elements)}]",
        RedisReplyKind.Null => "(nil)",
        _ => AsString() ?? string.Empty,
    };
}
