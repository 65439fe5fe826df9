using System.Threading.Channels;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// One client's place in a chat's feed: the batches read for the chat since it subscribed, in order, in a queue
/// bounded by events. A client that lets more than the bound pile up has fallen behind: nothing more is queued for
/// it, and its endpoint closes the connection so that the client resumes from the last event it got, while the
/// feed goes on serving the others at their pace.
/// </summary>
public sealed class Subscription : IDisposable
{
    private readonly Channel<EventBatch> _queue = Channel.CreateUnbounded<EventBatch>(new UnboundedChannelOptions { SingleReader = true });
    private readonly int _maxQueuedEvents;
    private readonly Action<Subscription> _unsubscribe;
    private readonly CancellationTokenSource _behind = new();
    private int _queuedEvents;
    private int _disposed;

    internal Subscription(Guid chatId, int maxQueuedEvents, Action<Subscription> unsubscribe)
    {
        ChatId = chatId;
        _maxQueuedEvents = maxQueuedEvents;
        _unsubscribe = unsubscribe;
    }

    public Guid ChatId { get; }

    /// <summary>The last event the feed does not queue for this subscription: reading Redis up to it catches up.</summary>
    public StreamId Start { get; internal set; }

    /// <summary>More than the bound was queued: the client must be closed and resume.</summary>
    public bool FellBehind => _behind.IsCancellationRequested;

    /// <summary>Cancelled when the client falls behind, even while a write to it is stuck.</summary>
    public CancellationToken FellBehindToken => _behind.Token;

    public bool TryRead(out EventBatch batch)
    {
        if (_queue.Reader.TryRead(out batch!))
        {
            Interlocked.Add(ref _queuedEvents, -batch.Count);
            return true;
        }

        return false;
    }

    /// <summary>Completes when a batch is queued (true) or nothing more will be (false: the client fell behind).</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken) => _queue.Reader.WaitToReadAsync(cancellationToken);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _queue.Writer.TryComplete();
            _unsubscribe(this);
        }
    }

    /// <summary>Called by the feed's reader; never waits for the client.</summary>
    internal void Deliver(EventBatch batch)
    {
        if (FellBehind)
        {
            return;
        }

        if (Interlocked.Add(ref _queuedEvents, batch.Count) > _maxQueuedEvents)
        {
            if (_queue.Writer.TryComplete())
            {
                _behind.Cancel();
            }

            return;
        }

        _queue.Writer.TryWrite(batch);
    }
}
