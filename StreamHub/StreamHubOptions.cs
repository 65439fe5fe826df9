namespace Hangar.StreamHub;

/// <summary>StreamHub settings, section <c>Hangar</c>.</summary>
public sealed class StreamHubOptions
{
    public const string Section = "Hangar";

    /// <summary>The same base64 secret ApiService signs stream tickets with.</summary>
    public string? SigningKey { get; set; }

    /// <summary>How long a stream may be idle before a heartbeat (an SSE comment; a ping on WebSockets). Default 15 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Stream entries read from Redis per stream and round trip, each one event or up to 16 chunks of a burst. Default
    /// 64: up to 1,024 events per stream, and a reader's reply over <see cref="ChatsPerReader"/> streams that fell
    /// behind stays within a few megabytes, all of which a subscriber waits for. Times 16, it must not exceed
    /// <see cref="MaxQueuedEvents"/>: one read of a reader that fell behind would close clients that keep up.
    /// </summary>
    public int ReadBatchSize { get; set; } = 64;

    /// <summary>
    /// Events queued for one client before it counts as too far behind and is closed, to resume from its last event.
    /// Default 10,000.
    /// </summary>
    public int MaxQueuedEvents { get; set; } = 10_000;

    /// <summary>Chats one Redis reader connection follows. Default 64.</summary>
    public int ChatsPerReader { get; set; } = 64;
}
