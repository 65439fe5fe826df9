using System.Diagnostics.Metrics;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// StreamHub's instruments, on the service's meter (<c>Hangar.StreamHub</c>): subscribers and active feeds now,
/// events read from Redis and written to clients (rates come from the counters), how far behind Redis the readers
/// are, clients closed for falling behind, and reconnects that resumed from an event id.
/// </summary>
public sealed class StreamMetrics : IDisposable
{
    public const string MeterName = "Hangar.StreamHub";

    private readonly Meter _meter;

    public StreamMetrics(IMeterFactory meters, Func<int> activeFeeds)
    {
        _meter = meters.Create(MeterName);
        Subscribers = _meter.CreateUpDownCounter<long>("hangar.streamhub.subscribers", "{subscriber}", "Clients streaming from this node.");
        EventsIn = _meter.CreateCounter<long>("hangar.streamhub.events.in", "{event}", "Events read from Redis.");
        EventsOut = _meter.CreateCounter<long>("hangar.streamhub.events.out", "{event}", "Events written to clients.");
        ReaderLag = _meter.CreateHistogram<double>("hangar.streamhub.reader.lag", "ms", "From an event's append to Redis to its read by this node.");
        SlowConsumerCloses = _meter.CreateCounter<long>("hangar.streamhub.slow_consumer.closes", "{subscriber}", "Clients closed for falling too far behind.");
        Resumes = _meter.CreateCounter<long>("hangar.streamhub.resumes", "{subscriber}", "Connections that resumed from an event id.");
        _meter.CreateObservableGauge("hangar.streamhub.feeds", activeFeeds, "{chat}", "Chats with a reader on this node.");
    }

    public UpDownCounter<long> Subscribers { get; }

    public Counter<long> EventsIn { get; }

    public Counter<long> EventsOut { get; }

    public Histogram<double> ReaderLag { get; }

    public Counter<long> SlowConsumerCloses { get; }

    public Counter<long> Resumes { get; }

    public void Dispose() => _meter.Dispose();
}
