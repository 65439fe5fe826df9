namespace Hangar.Redis;

/// <summary>Typed helpers over <see cref="RedisConnection.ExecuteAsync"/> for the commands Hangar uses.</summary>
public static class RedisCommands
{
    public static async Task<string?> GetAsync(this RedisConnection redis, string key) =>
        (await redis.ExecuteAsync("GET", key).ConfigureAwait(false)).AsString();

    public static Task SetAsync(this RedisConnection redis, string key, string value) => redis.ExecuteAsync("SET", key, value);

    public static async Task<long> PublishAsync(this RedisConnection redis, string channel, RedisArg message) =>
        (await redis.ExecuteAsync("PUBLISH", channel, message).ConfigureAwait(false)).Integer;

    /// <summary>Reads the entries of one stream from <paramref name="fromId"/> to <paramref name="toId"/> (both inclusive), oldest first.</summary>
    public static async Task<IReadOnlyList<RedisStreamEntry>> XRangeAsync(this RedisConnection redis, string key, string fromId, string toId, int count)
    {
        var reply = await redis.ExecuteAsync("XRANGE", key, fromId, toId, "COUNT", count).ConfigureAwait(false);
        return ParseEntries(reply);
    }

    /// <summary>
    /// <c>XREAD [BLOCK ms] COUNT n STREAMS k… id…</c>: entries after each id, per stream. An empty list when the block
    /// timed out (or was ended by <c>CLIENT UNBLOCK</c>).
    /// </summary>
    public static async Task<IReadOnlyList<(string Key, IReadOnlyList<RedisStreamEntry> Entries)>> XReadAsync(
        this RedisConnection redis, IReadOnlyList<(string Key, string AfterId)> streams, int count, TimeSpan? block)
    {
        var args = new List<RedisArg>(6 + (streams.Count * 2)) { "XREAD", "COUNT", count };
        if (block is { } b)
        {
            args.Add("BLOCK");
            args.Add((long)b.TotalMilliseconds);
        }

        args.Add("STREAMS");
        foreach (var (key, _) in streams)
        {
            args.Add(key);
        }

        foreach (var (_, afterId) in streams)
        {
            args.Add(afterId);
        }

        var reply = await redis.ExecuteAsync(args.ToArray()).ConfigureAwait(false);
        if (reply.IsNull)
        {
            return [];
        }

        var result = new List<(string, IReadOnlyList<RedisStreamEntry>)>(reply.Count);
        foreach (var stream in reply.Elements)
        {
            result.Add((stream[0].AsString()!, ParseEntries(stream[1])));
        }

        return result;
    }

    private static List<RedisStreamEntry> ParseEntries(RedisReply reply)
    {
        var entries = new List<RedisStreamEntry>(reply.Count);
        foreach (var entry in reply.Elements)
        {
            entries.Add(RedisStreamEntry.FromReply(entry));
        }

        return entries;
    }
}
