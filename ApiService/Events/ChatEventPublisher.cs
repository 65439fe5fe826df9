using System.Collections.Concurrent;
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
/// <remarks>
/// PostgreSQL holds the record; a stream only carries it to clients. When Redis cannot take an event (it restarted,
/// or is unreachable), the chat is remembered and, as soon as Redis answers again, its stream gets a <c>reset</c>
/// event: clients reload the chat from the API instead of going on with a silent gap.
/// </remarks>
internal sealed partial class ChatEventPublisher(RedisClients redis, IOptions<HangarOptions> options, ILogger<ChatEventPublisher> logger)
{
    private static readonly TimeSpan RepairInterval = TimeSpan.FromMilliseconds(250);

    private readonly long _maxLength = options.Value.StreamMaxLength;
    private readonly TimeSpan _timeToLive = options.Value.StreamIdleTimeToLive;

    /// <summary>Stream keys that lost events and wait for their reset.</summary>
    private readonly ConcurrentDictionary<Guid, byte> _gaps = new();
    private int _repairing;

    /// <summary>Appends an event without waiting for Redis; an append that fails is repaired with a reset.</summary>
    public void Publish<T>(Guid chatId, string type, T data, JsonTypeInfo<T> typeInfo)
    {
        var key = ChatEvents.StreamKey(chatId);
        var appended = Append(key, type, JsonSerializer.SerializeToUtf8Bytes(data, typeInfo));
        _ = Expire(key);
        appended.ContinueWith(
            static (task, state) =>
            {
                var (publisher, chatId) = ((ChatEventPublisher, Guid))state!;
                publisher.ReportLost(chatId, task.Exception!.InnerException!);
            },
            (this, chatId),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>
    /// Where the chunks of one assistant message go. The stream key and the JSON before the chunk are made once per
    /// step, so appending a chunk costs one copy of its bytes.
    /// </summary>
    public ChunkAppender ForMessage(Guid chatId, string messageId) =>
        new(this, chatId, ChatEvents.StreamKey(chatId), Encoding.UTF8.GetBytes($"{{\"id\":{JsonSerializer.Serialize(messageId, ApiJsonContext.Default.String)},\"chunk\":"));

    /// <summary>The id of the newest event of the chat's stream, or <c>0-0</c> when it has none: where a new reader starts.</summary>
    public async Task<string> LastEventIdAsync(Guid chatId)
    {
        var reply = await redis.Commands.ExecuteAsync("XREVRANGE", ChatEvents.StreamKey(chatId), "+", "-", "COUNT", 1);
        return reply.Count == 0 ? "0-0" : reply[0][0].AsString()!;
    }

    /// <summary>Remembers that the stream lost events, and makes sure a reset goes out once Redis answers.</summary>
    private void ReportLost(Guid chatId, Exception error)
    {
        if (_gaps.TryAdd(chatId, 0))
        {
            LogEventsLost(logger, chatId, error.Message);
        }

        if (Interlocked.Exchange(ref _repairing, 1) == 0)
        {
            _ = RepairAsync();
        }
    }

    /// <summary>Appends a reset to every stream that lost events, retrying while Redis is away.</summary>
    private async Task RepairAsync()
    {
        while (true)
        {
            foreach (var chatId in _gaps.Keys)
            {
                try
                {
                    var key = ChatEvents.StreamKey(chatId);
                    await Append(key, ChatEvents.Reset, ResetData(chatId)).ConfigureAwait(false);
                    _ = Expire(key);
                    _gaps.TryRemove(chatId, out _);
                }
                catch (Exception ex) when (ex is RedisConnectionException or RedisServerException)
                {
                    break;
                }
            }

            if (_gaps.IsEmpty)
            {
                Volatile.Write(ref _repairing, 0);
                // A gap reported between the check and the release would otherwise wait for the next one.
                if (_gaps.IsEmpty || Interlocked.Exchange(ref _repairing, 1) != 0)
                {
                    return;
                }
            }

            await Task.Delay(RepairInterval).ConfigureAwait(false);
        }
    }

    private static byte[] ResetData(Guid chatId) => Encoding.UTF8.GetBytes(
        $$"""{"chat_id":"{{chatId}}","reason":"Redis lost some of this chat's events: reload the chat from the API, then continue from this event."}""");

    private Task<RedisReply> Append(string key, string type, byte[] data) =>
        redis.Commands.ExecuteAsync("XADD", key, "MAXLEN", "~", _maxLength, "*", ChatEvents.TypeField, type, ChatEvents.DataField, data);

    private Task<RedisReply> Expire(string key) => redis.Commands.ExecuteAsync("PEXPIRE", key, (long)_timeToLive.TotalMilliseconds);

    public static JsonTypeInfo<T> Json<T>() => (JsonTypeInfo<T>)ApiJsonContext.Default.GetTypeInfo(typeof(T))!;

    /// <summary>
    /// <c>message.chunk.added</c> with <c>{"id": messageId, "chunk": …}</c>, the chunk's bytes as the agent sent them.
    /// The stream's expiry is pushed back with the first chunk and then every quarter of its time to live, not with
    /// every chunk.
    /// </summary>
    internal sealed class ChunkAppender(ChatEventPublisher publisher, Guid chatId, string key, byte[] prefix)
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

        /// <summary>Chunks appended by this appender were lost: the stream gets a reset once Redis answers.</summary>
        public void ReportLost(Exception error) => publisher.ReportLost(chatId, error);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Events of chat {ChatId} could not be appended ({Reason}); a reset follows once Redis answers.")]
    private static partial void LogEventsLost(ILogger logger, Guid chatId, string reason);
}
