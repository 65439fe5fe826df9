using Hangar.Redis;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// One Redis connection that reads the streams of several chats with one blocking <c>XREAD</c> and dispatches what
/// arrives to each chat's feed. A chat added while the read blocks is picked up at once: the read is ended early
/// with <c>CLIENT UNBLOCK</c> from another connection and issued again with the new set of streams.
/// </summary>
internal sealed class ReaderShard : IAsyncDisposable
{
    private static readonly TimeSpan Block = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, ChatFeed> _feeds = [];
    private readonly SemaphoreSlim _added = new(0);
    private readonly int _batchSize;
    private readonly StreamMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping;
    private readonly Task<RedisConnection> _connecting;
    private readonly RedisConnection _commands;
    private readonly Task _loop;
    private long _version;
    private long _seenVersion;

    public ReaderShard(RedisOptions options, RedisConnection commands, int batchSize, StreamMetrics metrics, ILogger logger, CancellationToken stopping)
    {
        _commands = commands;
        _batchSize = batchSize;
        _metrics = metrics;
        _logger = logger;
        _stopping = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _connecting = RedisConnection.ConnectAsync(options, logger: logger, cancellationToken: _stopping.Token);
        _loop = Task.Run(ReadAsync);
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _feeds.Count;
            }
        }
    }

    /// <summary>Adds a feed; returns the version of the set that includes it (see <see cref="WakeAsync"/>).</summary>
    public long Add(ChatFeed feed)
    {
        lock (_gate)
        {
            _feeds[feed.Key] = feed;
            feed.Shard = this;
            _added.Release();
            return ++_version;
        }
    }

    /// <summary>A removed feed's stream is left out of the next read; a read already waiting on it does no harm.</summary>
    public void Remove(ChatFeed feed)
    {
        lock (_gate)
        {
            _feeds.Remove(feed.Key);
            _version++;
        }
    }

    /// <summary>
    /// Returns once the loop reads with a set of streams at least as new as <paramref name="version"/>: either it
    /// took its set after the change, or its blocked read is ended so that it takes the set again.
    /// </summary>
    public async Task WakeAsync(long version, RedisConnection commands)
    {
        var connection = await _connecting.ConfigureAwait(false);
        while (Volatile.Read(ref _seenVersion) < version && !_stopping.IsCancellationRequested)
        {
            try
            {
                if ((await commands.ExecuteAsync("CLIENT", "UNBLOCK", connection.ClientId).ConfigureAwait(false)).Integer == 1)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is RedisConnectionException or RedisServerException)
            {
                // Redis is away; the loop takes the new set when it reads again.
                return;
            }

            await Task.Delay(1).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A full batch means this reader is behind; then it checks that the stream was not trimmed past where it was,
    /// and if it was, where subscribers resume after their reset.
    /// </summary>
    private async Task<StreamId?> GapBeforeAsync(string key, IReadOnlyList<RedisStreamEntry> entries, (string Key, string AfterId)[] streams)
    {
        if (entries.Count < _batchSize)
        {
            return null;
        }

        var position = StreamId.Parse(streams.First(s => s.Key == key).AfterId);
        var state = await StreamState.ReadAsync(_commands, key).ConfigureAwait(false);
        return state.Missed(position) && StreamId.Parse(entries[0].Id) <= state.Oldest ? StreamId.Parse(entries[0].Id).Previous : null;
    }

    private async Task DispatchAsync(IReadOnlyList<(string Key, IReadOnlyList<RedisStreamEntry> Entries)> read, (string Key, string AfterId)[] streams)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (var (key, entries) in read)
        {
            ChatFeed? feed;
            lock (_gate)
            {
                _feeds.TryGetValue(key, out feed);
            }

            if (feed is null || entries.Count == 0)
            {
                continue;
            }

            var batch = new EventBatch(entries, await GapBeforeAsync(key, entries, streams).ConfigureAwait(false));
            feed.Dispatch(batch);
            _metrics.EventsIn.Add(batch.Count);
            _metrics.ReaderLag.Record(Math.Max(0, now - (long)batch.LastEntry.Milliseconds));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_connecting.IsCompletedSuccessfully)
        {
            await _connecting.Result.DisposeAsync().ConfigureAwait(false);
        }

        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or RedisConnectionException or ObjectDisposedException)
        {
            // Stopped, with the connection closed under the read.
        }

        _stopping.Dispose();
    }

    private async Task ReadAsync()
    {
        var connection = await _connecting.ConfigureAwait(false);
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            (string Key, string AfterId)[] streams;
            lock (_gate)
            {
                streams = [.. _feeds.Values.Select(f => (f.Key, f.Position.ToString()))];
                Volatile.Write(ref _seenVersion, _version);
            }

            if (streams.Length == 0)
            {
                await _added.WaitAsync(stopping).ConfigureAwait(false);
                continue;
            }

            IReadOnlyList<(string Key, IReadOnlyList<RedisStreamEntry> Entries)> read;
            try
            {
                read = await connection.XReadAsync(streams, _batchSize, Block).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RedisConnectionException or RedisServerException or ObjectDisposedException && !stopping.IsCancellationRequested)
            {
                _logger.LogWarning("Reading chat streams failed ({Message}); retrying.", ex.Message);
                await Task.Delay(250, stopping).ConfigureAwait(false);
                continue;
            }

            try
            {
                await DispatchAsync(read, streams).ConfigureAwait(false);
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                // The loop serves every chat of this shard: a failure with one batch must not stop the others.
                _logger.LogError(ex, "Dispatching chat events failed; the reader goes on.");
            }
        }
    }
}
