namespace Hangar.Redis;

/// <summary>What a specialised connection adds to the plain one.</summary>
public sealed record RedisConnectionHooks
{
    /// <summary>Commands sent at the end of every handshake, before any queued command (re-subscribing, for one).</summary>
    public Func<IEnumerable<RedisArg[]>>? OnConnectCommands { get; init; }

    /// <summary>
    /// Receives pub/sub messages (<c>message</c> and <c>pmessage</c> pushes), on the connection's reader thread, or
    /// during a reconnect's handshake on the task that connects.
    /// </summary>
    public Action<RedisReply>? OnPush { get; init; }
}
