using Hangar.Contracts;
using Hangar.Redis;
using Microsoft.Extensions.Options;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// This node's readers of chat streams: one feed per chat that has subscribers here, fed by one Redis reader whatever
/// the number of subscribers. Feeds share reader connections, up to <see cref="StreamHubOptions.ChatsPerReader"/>
/// each (one blocking <c>XREAD</c> over all their streams), so connections grow with active chats / that number,
/// not with subscribers. A feed is dropped with its last subscriber. Catch-up reads and checks go over one shared,
/// pipelined connection. The host starts it before the server and stops it after the server has drained.
/// </summary>
public sealed class ChatFeeds(IOptions<StreamHubOptions> options, IConfiguration configuration, StreamMetrics metrics, ILoggerFactory loggers)
    : IHostedService
{
    private readonly StreamHubOptions _options = options.Value;
    private readonly ILogger _logger = loggers.CreateLogger<ChatFeeds>();
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, ChatFeed> _feeds = [];
    private readonly List<ReaderShard> _shards = [];
    private readonly CancellationTokenSource _stopping = new();
    private RedisOptions _redis = null!;
    private RedisConnection _commands = null!;

    public int ActiveFeeds
    {
        get
        {
            lock (_gate)
            {
                return _feeds.Count;
            }
        }
    }

    /// <summary>Reads and checks that are not the live feed: catch-up ranges, stream info, unblocking readers.</summary>
    public RedisConnection Commands => _commands;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _redis = RedisOptions.Parse(configuration.GetConnectionString("redis")!);
        _commands = await RedisConnection.ConnectAsync(
            _redis with { ClientName = "hangar-streamhub" }, logger: loggers.CreateLogger("StreamHub.Redis"), cancellationToken: cancellationToken);
    }

    /// <summary>Stops the readers and closes the connections.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        ReaderShard[] shards;
        lock (_gate)
        {
            shards = [.. _shards];
        }

        foreach (var shard in shards)
        {
            await shard.DisposeAsync().ConfigureAwait(false);
        }

        await _commands.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Joins the chat's feed: every event after the subscription's <see cref="Subscription.Start"/> is queued for it.
    /// Events up to that one are the caller's to read from Redis.
    /// </summary>
    public async Task<Subscription> SubscribeAsync(Guid chatId, CancellationToken cancellationToken)
    {
        var subscription = new Subscription(chatId, _options.MaxQueuedEvents, Unsubscribe);
        ChatFeed feed;
        StreamId? start;
        var created = false;
        lock (_gate)
        {
            if (!_feeds.TryGetValue(chatId, out feed!))
            {
                feed = new ChatFeed(ChatEvents.StreamKey(chatId));
                _feeds[chatId] = feed;
                created = true;
            }

            start = feed.Add(subscription);
        }

        // Started outside the lock, once the subscriber is in: the feed goes to a reader only if someone still wants it.
        if (created)
        {
            _ = StartFeedAsync(feed);
        }

        try
        {
            await feed.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
            subscription.Start = start ?? feed.StartedAt;
            return subscription;
        }
        catch
        {
            subscription.Dispose();
            throw;
        }
    }

    /// <summary>The feed starts after the stream's newest event, on the reader with the most room.</summary>
    private async Task StartFeedAsync(ChatFeed feed)
    {
        try
        {
            var newest = await _commands.ExecuteAsync("XREVRANGE", feed.Key, "+", "-", "COUNT", 1).ConfigureAwait(false);
            feed.Start(newest.Count == 0 ? StreamId.Zero : StreamId.Parse(newest[0][0].AsString()!));
            ReaderShard shard;
            long version;
            lock (_gate)
            {
                if (feed.IsEmpty)
                {
                    feed.SetReady();
                    return;
                }

                shard = _shards.FirstOrDefault(s => s.Count < _options.ChatsPerReader) ?? NewShard();
                version = shard.Add(feed);
            }

            await shard.WakeAsync(version, _commands).ConfigureAwait(false);
            feed.SetReady();
        }
        catch (Exception ex)
        {
            // Its subscribers fail (503) and leave; the next one makes a new feed.
            feed.SetFailed(ex);
        }
    }

    private ReaderShard NewShard()
    {
        var shard = new ReaderShard(
            _redis with { ClientName = "hangar-streamhub-reader" }, _commands, _options.ReadBatchSize, metrics, loggers.CreateLogger<ReaderShard>(), _stopping.Token);
        _shards.Add(shard);
        return shard;
    }

    private void Unsubscribe(Subscription subscription)
    {
        lock (_gate)
        {
            if (_feeds.TryGetValue(subscription.ChatId, out var feed) && feed.Remove(subscription) && feed.IsEmpty)
            {
                _feeds.Remove(subscription.ChatId);
                feed.Shard?.Remove(feed);
            }
        }
    }
}

/// <summary>One chat's feed on this node: where its reader is in the stream, and who gets what it reads.</summary>
internal sealed class ChatFeed(string key)
{
    private readonly Lock _gate = new();
    private Subscription[] _subscribers = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private StreamId? _position;

    public string Key { get; } = key;

    /// <summary>Completes once the feed has started and its reader reads it, or fails when it could not start.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Where the reader started: the stream's newest event when the feed was made.</summary>
    public StreamId StartedAt { get; private set; }

    /// <summary>The id of the last event read; the reader continues after it.</summary>
    public StreamId Position
    {
        get
        {
            lock (_gate)
            {
                return _position ?? StreamId.Zero;
            }
        }
    }

    public ReaderShard? Shard { get; set; }

    public bool IsEmpty => Volatile.Read(ref _subscribers).Length == 0;

    public void Start(StreamId newest)
    {
        lock (_gate)
        {
            StartedAt = newest;
            _position = newest;
        }
    }

    public void SetReady() => _ready.TrySetResult();

    public void SetFailed(Exception error) => _ready.TrySetException(error);

    /// <summary>
    /// Adds a subscriber; returns the last event it will not be given (the feed's position at this moment), or null
    /// before the feed has started, when that is <see cref="StartedAt"/>.
    /// </summary>
    public StreamId? Add(Subscription subscription)
    {
        lock (_gate)
        {
            _subscribers = [.. _subscribers, subscription];
            return _position;
        }
    }

    public bool Remove(Subscription subscription)
    {
        lock (_gate)
        {
            var before = _subscribers.Length;
            _subscribers = [.. _subscribers.Where(s => s != subscription)];
            return _subscribers.Length < before;
        }
    }

    /// <summary>From the reader's loop: queues the batch for every subscriber, none of which can hold the others up.</summary>
    public void Dispatch(EventBatch batch)
    {
        Subscription[] subscribers;
        lock (_gate)
        {
            _position = batch.LastEntry;
            subscribers = _subscribers;
        }

        foreach (var subscriber in subscribers)
        {
            subscriber.Deliver(batch);
        }
    }
}
