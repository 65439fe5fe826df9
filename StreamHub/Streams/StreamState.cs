using Hangar.Redis;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// What <c>XINFO STREAM</c> says of a chat's stream, to tell whether a reader at some position missed events. Trimming
/// (<c>MAXLEN</c>) drops the oldest events, so a reader missed some exactly when entries were trimmed and it is
/// behind the oldest one left; an expired stream lost everything.
/// </summary>
internal readonly record struct StreamState(bool Exists, bool Trimmed, StreamId Oldest, StreamId Newest)
{
    public static async Task<StreamState> ReadAsync(RedisConnection redis, string key)
    {
        RedisReply info;
        try
        {
            info = await redis.ExecuteAsync("XINFO", "STREAM", key).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("no such key", StringComparison.OrdinalIgnoreCase))
        {
            return new StreamState(false, false, StreamId.Zero, StreamId.Zero);
        }

        long length = 0, added = 0;
        StreamId? oldest = null;
        var newest = StreamId.Zero;
        for (var i = 0; i + 1 < info.Count; i += 2)
        {
            var value = info[i + 1];
            switch (info[i].AsString())
            {
                case "length": length = value.Integer; break;
                case "entries-added": added = value.Integer; break;
                case "last-generated-id": newest = StreamId.Parse(value.AsString()!); break;
                case "first-entry" when !value.IsNull: oldest = StreamId.Parse(value[0].AsString()!); break;
            }
        }

        return new StreamState(true, added > length, oldest ?? newest, newest);
    }

    /// <summary>Whether a reader that has everything up to <paramref name="position"/> missed events that are gone.</summary>
    public bool Missed(StreamId position) => Exists ? Trimmed && position < Oldest : position != StreamId.Zero;

    /// <summary>Where a reader goes on from after a reset: the newest event, or the start of a stream made anew.</summary>
    public StreamId ResumeAfter => Exists ? Newest : StreamId.Zero;
}
