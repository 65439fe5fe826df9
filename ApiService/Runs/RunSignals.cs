using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Hangar.ApiService.Events;
using Hangar.Redis;

namespace Hangar.ApiService.Runs;

public enum RunSignal
{
    Interrupt,
    Stop,
}

/// <summary>
/// Signals between replicas over Redis pub/sub: "a run is waiting" wakes every run worker, and "interrupt" or
/// "stop" reaches whichever replica owns the run. A lost signal only delays: workers poll and owners re-check the
/// run's flags with every heartbeat.
/// </summary>
internal sealed class RunSignals(RedisClients redis) : IHostedService
{
    private const string WakeChannel = "hangar:runs:wake";
    private const string SignalChannel = "hangar:runs:signal";

    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ConcurrentDictionary<Guid, Action<RunSignal>> _owned = new();

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await redis.Subscriber.SubscribeAsync(WakeChannel, (_, _) => WakeLocal());
        await redis.Subscriber.SubscribeAsync(SignalChannel, (_, payload) => Deliver(payload));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Wakes the run workers of every replica.</summary>
    public Task WakeWorkersAsync() => redis.Commands.PublishAsync(WakeChannel, "1");

    public Task SendAsync(Guid runId, RunSignal signal) => redis.Commands.PublishAsync(SignalChannel, $"{runId:N}:{signal}");

    public void WakeLocal() => _wake.Writer.TryWrite(true);

    /// <summary>Waits for a wake-up or the poll interval, whichever comes first.</summary>
    public async Task WaitForWakeAsync(TimeSpan poll, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(poll);
        try
        {
            await _wake.Reader.ReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Routes signals for this run to <paramref name="onSignal"/> while the returned handle lives.</summary>
    public IDisposable Own(Guid runId, Action<RunSignal> onSignal)
    {
        _owned[runId] = onSignal;
        return new Ownership(this, runId);
    }

    private void Deliver(ReadOnlyMemory<byte> payload)
    {
        var text = Encoding.UTF8.GetString(payload.Span);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && Guid.TryParseExact(text[..colon], "N", out var runId) && Enum.TryParse<RunSignal>(text[(colon + 1)..], out var signal)
            && _owned.TryGetValue(runId, out var handler))
        {
            handler(signal);
        }
    }

    private sealed class Ownership(RunSignals signals, Guid runId) : IDisposable
    {
        public void Dispose() => signals._owned.TryRemove(runId, out _);
    }
}
