namespace Hangar.StreamHub;

/// <summary>StreamHub settings, section <c>Hangar</c>.</summary>
public sealed class StreamHubOptions
{
    public const string Section = "Hangar";

    /// <summary>The same base64 secret ApiService signs stream tickets with.</summary>
    public string? SigningKey { get; set; }

    /// <summary>How long a stream may be idle before a heartbeat comment is sent. Default 15 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Events read from Redis per round trip. Default 512.</summary>
    public int ReadBatchSize { get; set; } = 512;
}
