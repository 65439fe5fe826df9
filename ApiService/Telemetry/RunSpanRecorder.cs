using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Runs;
using Npgsql;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// Stores Hangar's own spans of a run (<see cref="RunTracing"/>) next to the spans its agent reports, so the run's
/// trace tree shows both sides. It listens to Hangar's activity source whatever the OpenTelemetry configuration, which
/// also means those spans always exist and the agent always gets a <c>traceparent</c>. Spans are written in batches by
/// one loop, at most one batch per <see cref="FlushInterval"/> (a write per span cost PostgreSQL more than the run's
/// own statements); when PostgreSQL cannot keep up, new spans are dropped (and counted) rather than held without bound.
/// </summary>
internal sealed partial class RunSpanRecorder(TelemetryStore store, ILogger<RunSpanRecorder> logger) : BackgroundService
{
    private const int Capacity = 10_000;
    private const int MaxBatch = 1_000;
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(500);
    private const string ResourceJson = $$"""{"service.name":"{{RunTracing.SourceName}}"}""";

    private static readonly OtlpContext Context = new(ResourceJson, RunTracing.SourceName, RunTracing.SourceName, null, null, null);

    private readonly Channel<FiledSpan> _spans = Channel.CreateBounded<FiledSpan>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    private long _dropped;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == RunTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = Record,
        };
        ActivitySource.AddActivityListener(listener);

        var batch = new List<FiledSpan>(MaxBatch);
        try
        {
            while (await _spans.Reader.WaitToReadAsync(stoppingToken))
            {
                await Task.Delay(FlushInterval, stoppingToken);
                await WriteAvailableAsync(batch, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Services that make spans stop before this one; what they left is written below.
        }

        using var flush = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await WriteAvailableAsync(batch, flush.Token);
    }

    private void Record(Activity activity)
    {
        if (ToFiledSpan(activity) is { } span && !_spans.Writer.TryWrite(span))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task WriteAvailableAsync(List<FiledSpan> batch, CancellationToken ct)
    {
        do
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _spans.Reader.TryRead(out var span))
            {
                batch.Add(span);
            }

            try
            {
                await store.WriteSpansAsync(batch, ct);
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                LogWriteFailed(logger, batch.Count, ex.Message);
            }

            if (Interlocked.Exchange(ref _dropped, 0) is > 0 and var dropped)
            {
                LogDropped(logger, dropped);
            }
        }
        while (batch.Count == MaxBatch);
    }

    /// <summary>The span as OTLP would carry it, filed by its <c>hangar.*</c> tags; null for spans of no agent.</summary>
    private static FiledSpan? ToFiledSpan(Activity activity)
    {
        if (Id(activity, RunTracing.OrganizationTag) is not { } organizationId || Id(activity, RunTracing.AgentTag) is not { } agentId)
        {
            return null;
        }

        var chatId = Id(activity, RunTracing.ChatTag);
        var runId = Id(activity, RunTracing.RunTag);
        var stepId = Id(activity, RunTracing.StepTag);
        var caller = new AgentCaller(organizationId, agentId, Id(activity, RunTracing.DeploymentTag), activity.GetTagItem(RunTracing.TargetTag) as string ?? "", chatId, runId, stepId);
        var start = UnixNano(activity.StartTimeUtc);
        return new FiledSpan(caller, new SpanRecord(
            Context, activity.TraceId.ToHexString(), activity.SpanId.ToHexString(),
            activity.ParentSpanId == default ? null : activity.ParentSpanId.ToHexString(),
            activity.DisplayName, (int)activity.Kind + 1, start, start + activity.Duration.Ticks * 100,
            (int)activity.Status, activity.StatusDescription, AttributesJson(activity), EventsJson(activity), chatId, runId, stepId));
    }

    private static Guid? Id(Activity activity, string tag) => activity.GetTagItem(tag) is string text && Guid.TryParse(text, out var id) ? id : null;

    private static long UnixNano(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) * 100;

    private static string? AttributesJson(Activity activity) =>
        activity.TagObjects.Any() ? Json(json => WriteTags(json, activity.TagObjects)) : null;

    /// <summary>Events in the shape the OTLP readers store them: <c>[{attributes, name, time_unix_nano}]</c>.</summary>
    private static string? EventsJson(Activity activity) =>
        activity.Events.Any()
            ? Json(json =>
            {
                json.WriteStartArray();
                foreach (var e in activity.Events)
                {
                    json.WriteStartObject();
                    json.WritePropertyName("attributes");
                    WriteTags(json, e.Tags);
                    json.WriteString("name", e.Name);
                    json.WriteNumber("time_unix_nano", UnixNano(e.Timestamp.UtcDateTime));
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            })
            : null;

    private static void WriteTags(Utf8JsonWriter json, IEnumerable<KeyValuePair<string, object?>> tags)
    {
        json.WriteStartObject();
        foreach (var (key, value) in tags)
        {
            switch (value)
            {
                case null: json.WriteNull(key); break;
                case string s: json.WriteString(key, s); break;
                case bool b: json.WriteBoolean(key, b); break;
                case int i: json.WriteNumber(key, i); break;
                case long l: json.WriteNumber(key, l); break;
                case double d: json.WriteNumber(key, d); break;
                default: json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)); break;
            }
        }

        json.WriteEndObject();
    }

    private static string Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not store {Count} of Hangar's run spans: {Reason}")]
    private static partial void LogWriteFailed(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped {Count} of Hangar's run spans: the store fell behind")]
    private static partial void LogDropped(ILogger logger, long count);
}
