using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Hangar.ApiService.Http;
using Hangar.Contracts;
using Hangar.Redis;
using Microsoft.Extensions.Options;

namespace Hangar.ApiService.Events;

/// <summary>
/// Appends events to a chat's Redis stream. Appends are issued without waiting for each reply, on one shared
/// connection, so a burst of chunks goes out pipelined in a few writes. A stream holds about
/// <see cref="HangarOptions.StreamMaxLength"/> events and expires <see cref="HangarOptions.StreamIdleTimeToLive"/>
/// after it was last written to, so Redis' memory stays bounded whatever the number of chats.
/// </summary>
internal sealed class ChatEventPublisher(RedisClients redis, IOptions<HangarOptions> options)
{
    private readonly long _maxLength = options.Value.StreamMaxLength;
    private readonly TimeSpan _timeToLive = options.Value.StreamIdleTimeToLive;

    public Task<RedisReply> Publish<T>(Guid chatId, string type, T data, JsonTypeInfo<T> typeInfo) =>
        Append(chatId, type, JsonSerializer.SerializeToUtf8Bytes(data, typeInfo));

    /// <summary>
    /// Where the chunks of one assistant message go. The stream key and the JSON before the chunk are made once per
    /// step, so appending a chunk costs one copy of its bytes.
    /// </summary>
    public ChunkAppender ForMessage(Guid chatId, string messageId) =>
        new(this, ChatEvents.StreamKey(chatId), Encoding.UTF8.GetBytes($"{{\"id\":{JsonSerializer.Serialize(messageId, ApiJsonContext.Default.String)},\"chunk\":"));

    /// <summary>The id of the newest event of the chat's stream, or <c>0-0</c> when it has none: where a new reader starts.</summary>
    public async Task<string> LastEventIdAsync(Guid chatId)
    {
        var reply = await redis.Commands.ExecuteAsync("XREVRANGE", ChatEvents.StreamKey(chatId), "+", "-", "COUNT", 1);
        return reply.Count == 0 ? "0-0" : reply[0][0].AsString()!;
    }

    /// <summary>An event other than a chunk, with the stream's expiry pushed back (both pipelined).</summary>
    private Task<RedisReply> Append(Guid chatId, string type, byte[] data)
    {
        var key = ChatEvents.StreamKey(chatId);
        var appended = Append(key, type, data);
        _ = Expire(key);
        return appended;
    }

    private Task<RedisReply> Append(string key, string type, byte[] data) =>
        redis.Commands.ExecuteAsync("XADD", key, "MAXLEN", "~", _maxLength, "*", ChatEvents.TypeField, type, ChatEvents.DataField, data);

    private Task<RedisReply> Expire(string key) => redis.Commands.ExecuteAsync("PEXPIRE", key, (long)_timeToLive.TotalMilliseconds);

    public static JsonTypeInfo<T> Json<T>() => (JsonTypeInfo<T>)ApiJsonContext.Default.GetTypeInfo(typeof(T))!;

    /// <summary>
    /// <c>message.chunk.added</c> with <c>{"id": messageId, "chunk": …}</c>, the chunk's bytes as the agent sent them.
    /// The stream's expiry is pushed back with the first chunk and then every quarter of its time to live, not with
    /// every chunk.
    /// </summary>
    internal sealed class ChunkAppender(ChatEventPublisher publisher, string key, byte[] prefix)
    {
        private long _expiryRefreshedAt = long.MinValue;

        public Task<RedisReply> Append(ReadOnlySpan<byte> chunk)
        {
            var data = new byte[prefix.Length + chunk.Length + 1];
            prefix.CopyTo(data, 0);
            chunk.CopyTo(data.AsSpan(prefix.Length));
            data[^1] = (byte)'}';
            var appended = publisher.Append(key, ChatEvents.MessageChunkAdded, data);
            var now = Environment.TickCount64;
            if (now - _expiryRefreshedAt > (long)publisher._timeToLive.TotalMilliseconds / 4)
            {
                _expiryRefreshedAt = now;
                _ = publisher.Expire(key);
            }

            return appended;
        }
    }
}
