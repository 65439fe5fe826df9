using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Hangar.Redis;

/// <summary>
/// A pub/sub connection. Subscriptions survive reconnects: every handshake subscribes again to every channel.
/// Messages published while the connection was down are lost, as pub/sub always allows; callers that cannot
/// afford that also poll.
/// </summary>
public sealed class RedisSubscriber : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Action<string, ReadOnlyMemory<byte>>> _handlers = new(StringComparer.Ordinal);
    private RedisConnection _connection = null!;

    private RedisSubscriber()
    {
    }

    /// <summary>Raised after the connection came back; messages may have been missed in between.</summary>
    public event Action? Reconnected
    {
        add => _connection.Reconnected += value;
        remove => _connection.Reconnected -= value;
    }

    public static async Task<RedisSubscriber> ConnectAsync(RedisOptions options, ILogger? logger = null, CancellationToken cancellationToken = default)
    {
        var subscriber = new RedisSubscriber();
        var hooks = new RedisConnectionHooks
        {
            OnConnectCommands = () => subscriber._handlers.Keys.Select(channel => new RedisArg[] { "SUBSCRIBE", channel }).ToList(),
            OnPush = subscriber.Dispatch,
        };
        subscriber._connection = await RedisConnection.ConnectAsync(options with { ClientName = options.ClientName ?? "hangar-subscriber" }, hooks, logger, cancellationToken).ConfigureAwait(false);
        return subscriber;
    }

    /// <summary>Subscribes one handler to a channel; it receives the channel name and the payload.</summary>
    public async Task SubscribeAsync(string channel, Action<string, ReadOnlyMemory<byte>> handler)
    {
        _handlers[channel] = handler;
        await _connection.ExecuteAsync("SUBSCRIBE", channel).ConfigureAwait(false);
    }

    public async Task UnsubscribeAsync(string channel)
    {
        if (_handlers.TryRemove(channel, out _))
        {
            await _connection.ExecuteAsync("UNSUBSCRIBE", channel).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();

    private void Dispatch(RedisReply push)
    {
        // ["message", channel, payload]; pattern subscriptions are not used.
        if (push.Count == 3 && push[1].AsString() is { } channel && _handlers.TryGetValue(channel, out var handler))
        {
            handler(channel, push[2].Memory);
        }
    }
}
