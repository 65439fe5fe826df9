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
    private static readonly byte[] ChunkPrefix = "{\"id\":\""u8.ToArray();
    private static readonly byte[] ChunkMiddle = "\",\"chunk\":"u8.ToArray();

    private readonly long _maxLength = options.Value.StreamMaxLength;

    public Task<RedisReply> Publish<T>(Guid chatId, string type, T data, JsonTypeInfo<T> typeInfo) =>
        Append(chatId, type, JsonSerializer.SerializeToUtf8Bytes(data, typeInfo));

    /// <summary><c>message.chunk.added</c> with <c>{"id": messageId, "chunk": …}</c>, the chunk's bytes as the agent sent them.</summary>
    public Task<RedisReply> PublishChunk(Guid chatId, string messageId, ReadOnlySpan<byte> chunk)
    {
        var id = Encoding.UTF8.GetBytes(messageId);
        var data = new byte[ChunkPrefix.Length + id.Length + ChunkMiddle.Length + chunk.Length + 1];
        var span = data.AsSpan();
        ChunkPrefix.CopyTo(span);
        id.CopyTo(span[ChunkPrefix.Length..]);
        ChunkMiddle.CopyTo(span[(ChunkPrefix.Length + id.Length)..]);
        chunk.CopyTo(span[(ChunkPrefix.Length + id.Length + ChunkMiddle.Length)..]);
        data[^1] = (byte)'}';
        return Append(chatId, ChatEvents.MessageChunkAdded, data);
    }

    /// <summary>The id of the newest event of the chat's stream, or <c>0-0</c> when it has none: where a new reader starts.</summary>
    public async Task<string> LastEventIdAsync(Guid chatId)
    {
        var reply = await redis.Commands.ExecuteAsync("XREVRANGE", ChatEvents.StreamKey(chatId), "+", "-", "COUNT", 1);
        return reply.Count == 0 ? "0-0" : reply[0][0].AsString()!;
    }

    private Task<RedisReply> Append(Guid chatId, string type, byte[] data) =>
        redis.Commands.ExecuteAsync("XADD", ChatEvents.StreamKey(chatId), "MAXLEN", "~", _maxLength, "*", ChatEvents.TypeField, type, ChatEvents.DataField, data);

    public static JsonTypeInfo<T> Json<T>() => (JsonTypeInfo<T>)ApiJsonContext.Default.GetTypeInfo(typeof(T))!;
}
