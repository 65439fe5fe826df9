namespace Hangar.Redis;

/// <summary>One entry of a Redis stream: its id and its field/value pairs in order.</summary>
public sealed record RedisStreamEntry(string Id, IReadOnlyList<KeyValuePair<string, ReadOnlyMemory<byte>>> Fields)
{
    public ReadOnlyMemory<byte> this[string field]
    {
        get
        {
            foreach (var pair in Fields)
            {
                if (pair.Key == field)
                {
                    return pair.Value;
                }
            }

            return ReadOnlyMemory<byte>.Empty;
        }
    }

    internal static RedisStreamEntry FromReply(RedisReply entry)
    {
        var id = entry[0].AsString()!;
        var raw = entry[1];
        var fields = new KeyValuePair<string, ReadOnlyMemory<byte>>[raw.Count / 2];
        for (var i = 0; i < fields.Length; i++)
        {
            fields[i] = new(raw[2 * i].AsString()!, raw[(2 * i) + 1].Memory);
        }

        return new RedisStreamEntry(id, fields);
    }
}
