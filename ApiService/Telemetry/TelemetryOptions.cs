namespace Hangar.ApiService.Telemetry;

/// <summary>Agent logs and traces, section <c>Hangar:Telemetry</c>.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Hangar:Telemetry";

    /// <summary>Largest OTLP request accepted, after decompression. Default 8 MiB.</summary>
    public int MaxRequestBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Logs and spans older than this are deleted. Default 7 days.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often the retention job runs (on one replica at a time). Default 1 hour.</summary>
    public TimeSpan RetentionInterval { get; set; } = TimeSpan.FromHours(1);
}
