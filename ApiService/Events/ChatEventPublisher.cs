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
/// connection, so a burst of chunks goes out pipelined in a few writes.
/// </summary>
internal sealed class ChatEventPublisher(RedisClients redis, IOptions<HangarOptions> options)
{
    private readonly long _maxLength = options.Value.StreamMaxLength;

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

    private Task<RedisReply> Append(Guid chatId, string type, byte[] data) => Append(ChatEvents.StreamKey(chatId), type, data);

    private Task<RedisReply> Append(string key, string type, byte[] data) =>
        redis.Commands.ExecuteAsync("XADD", key, "MAXLEN", "~", _maxLength, "*", ChatEvents.TypeField, type, ChatEvents.DataField, data);

    public static JsonTypeInfo<T> Json<T>() => (JsonTypeInfo<T>)ApiJsonContext.Default.GetTypeInfo(typeof(T))!;

    /// <summary><c>message.chunk.added</c> with <c>{"id": messageId, "chunk": …}</c>, the chunk's bytes as the agent sent them.</summary>
    internal sealed class ChunkAppender(ChatEventPublisher publisher, string key, byte[] prefix)
    {
        public Task<RedisReply> Append(ReadOnlySpan<byte> chunk)
        {
            var data = new byte[prefix.Length + chunk.Length + 1];
            prefix.CopyTo(data, 0);
            chunk.CopyTo(data.AsSpan(prefix.Length));
            data[^1] = (byte)'}';
            return publisher.Append(key, ChatEvents.MessageChunkAdded, data);
        }
    }
}
