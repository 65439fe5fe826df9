using System.Collections.Concurrent;
using System.Runtime.InteropServices;
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

    /// <summary>One entry holding the events, all of one type (see <see cref="ChatEvents"/>).</summary>
    private Task<RedisReply> Append(string key, string type, params ReadOnlySpan<byte[]> data)
    {
        var args = new RedisArg[6 + (4 * data.Length)];
        (args[0], args[1], args[2], args[3], args[4], args[5]) = ("XADD", key, "MAXLEN", "~", _maxLength, "*");
        for (var i = 0; i < data.Length; i++)
        {
            (args[6 + (4 * i)], args[7 + (4 * i)], args[8 + (4 * i)], args[9 + (4 * i)]) = (ChatEvents.TypeField, type, ChatEvents.DataField, data[i]);
        }

        return redis.Commands.ExecuteAsync(args);
    }

    private Task<RedisReply> Expire(string key) => redis.Commands.ExecuteAsync("PEXPIRE", key, (long)_timeToLive.TotalMilliseconds);

    public static JsonTypeInfo<T> Json<T>() => (JsonTypeInfo<T>)ApiJsonContext.Default.GetTypeInfo(typeof(T))!;

    /// <summary>
    /// Appends the chunks of one assistant message as <c>message.chunk.added</c> events with
    /// <c>{"id": messageId, "chunk": …}</c>, the chunk's bytes as the agent sent them, in order. One append is in
    /// flight at a time: a chunk that comes while none is goes out at once in an entry of its own; the chunks that
    /// come while one is wait for it and then go out together, <see cref="ChatEvents.MaxEventsPerEntry"/> per entry. A
    /// slow stream so costs one entry per chunk and no wait, a fast one a few entries per round trip to Redis. The
    /// stream's expiry is pushed back with the first append and then every quarter of its time to live.
    /// </summary>
    internal sealed class ChunkAppender(ChatEventPublisher publisher, Guid chatId, string key, byte[] prefix)
    {
        /// <summary>Chunks waiting for Redis before the agent's reply is read on.</summary>
        private const int MaxWaiting = 2048;

        private readonly Lock _gate = new();
        private List<byte[]> _waiting = [];
        private bool _sending;
        private TaskCompletionSource? _sent;
        private long _expiryRefreshedAt = long.MinValue;

        /// <summary>Queues the chunk; waits only while <see cref="MaxWaiting"/> chunks wait for Redis already.</summary>
        public Task AppendAsync(ReadOnlySpan<byte> chunk)
        {
            var data = new byte[prefix.Length + chunk.Length + 1];
            prefix.CopyTo(data, 0);
            chunk.CopyTo(data.AsSpan(prefix.Length));
            data[^1] = (byte)'}';
            lock (_gate)
            {
                _waiting.Add(data);
                if (_sending)
                {
                    return _waiting.Count < MaxWaiting ? Task.CompletedTask : SentTask();
                }

                _sending = true;
            }

            SendWaiting();
            return Task.CompletedTask;
        }

        /// <summary>Completes once every chunk appended so far is in Redis, or reported lost (a reset follows).</summary>
        public Task FlushAsync()
        {
            lock (_gate)
            {
                return _sending ? SentTask() : Task.CompletedTask;
            }
        }

        private Task SentTask() => (_sent ??= new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

        /// <summary>Sends what waits, and again when that is in; runs for one batch at a time.</summary>
        private void SendWaiting()
        {
            List<byte[]> batch;
            lock (_gate)
            {
                if (_waiting.Count == 0)
                {
                    _sending = false;
                    _sent?.TrySetResult();
                    _sent = null;
                    return;
                }

                (batch, _waiting) = (_waiting, []);
            }

            var chunks = CollectionsMarshal.AsSpan(batch);
            var appends = new Task[((chunks.Length - 1) / ChatEvents.MaxEventsPerEntry) + 1];
            for (var i = 0; i < appends.Length; i++)
            {
                var offset = i * ChatEvents.MaxEventsPerEntry;
                appends[i] = publisher.Append(key, ChatEvents.MessageChunkAdded, chunks.Slice(offset, Math.Min(ChatEvents.MaxEventsPerEntry, chunks.Length - offset)));
            }

            var now = Environment.TickCount64;
            if (now - _expiryRefreshedAt > (long)publisher._timeToLive.TotalMilliseconds / 4)
            {
                _expiryRefreshedAt = now;
                _ = publisher.Expire(key);
            }

            (appends.Length == 1 ? appends[0] : Task.WhenAll(appends)).ContinueWith(
                static (task, state) => ((ChunkAppender)state!).Sent(task),
                this,
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }

        private void Sent(Task appended)
        {
            if (appended.IsFaulted)
            {
                publisher.ReportLost(chatId, appended.Exception!.InnerException!);
            }

            SendWaiting();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Events of chat {ChatId} could not be appended ({Reason}); a reset follows once Redis answers.")]
    private static partial void LogEventsLost(ILogger logger, Guid chatId, string reason);
}
