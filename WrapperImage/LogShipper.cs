using System.Buffers;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;

namespace Hangar.Wrapper;

/// <summary>
/// Ships the agent's output lines to <c>/api/otlp/v1/logs</c> as OTLP/JSON, in batches (up to 1,000 records, or what
/// arrived within half a second). The queue is bounded: an agent that prints faster than the platform takes it loses
/// its oldest lines, and the next batch says how many. With <c>BLINK_USE_STRUCTURED_LOGGING=1</c> the SDK prints JSON
/// lines (<c>{level, message, trace_id, span_id}</c>), which become records with that level, body and trace context.
/// </summary>
internal sealed class LogShipper
{
    private const int Capacity = 10_000;
    private const int MaxBatch = 1_000;
    private static readonly TimeSpan BatchWindow = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan[] Retries = [TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)];

    private readonly Channel<Line> _lines;

    private long _dropped;

    private readonly HttpClient _upstream;
    private readonly string _deploymentToken;
    private readonly bool _structured;

    public LogShipper(HttpClient upstream, string deploymentToken, bool structured)
    {
        _upstream = upstream;
        _deploymentToken = deploymentToken;
        _structured = structured;
        _lines = Channel.CreateBounded<Line>(
            new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => Interlocked.Increment(ref _dropped));
    }

    private readonly record struct Line(long TimeUnixNano, string Text, bool Stderr);

    public void Add(string text, bool stderr)
    {
        _lines.Writer.TryWrite(new Line((DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100, text, stderr));
    }

    /// <summary>Ships until <see cref="Complete"/> is called and everything queued is sent (or given up on).</summary>
    public async Task RunAsync()
    {
        var batch = new List<Line>(MaxBatch);
        while (await _lines.Reader.WaitToReadAsync())
        {
            using (var window = new CancellationTokenSource(BatchWindow))
            {
                try
                {
                    while (batch.Count < MaxBatch && await _lines.Reader.WaitToReadAsync(window.Token))
                    {
                        while (batch.Count < MaxBatch && _lines.Reader.TryRead(out var line))
                        {
                            batch.Add(line);
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                    // The window closed: send what arrived within it.
                }
            }

            await SendAsync(batch);
            batch.Clear();
        }
    }

    /// <summary>No more lines will come (the agent exited); <see cref="RunAsync"/> ends after sending the rest.</summary>
    public void Complete() => _lines.Writer.TryComplete();

    private async Task SendAsync(List<Line> batch)
    {
        var body = Serialize(batch, Interlocked.Exchange(ref _dropped, 0));
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "api/otlp/v1/logs")
                {
                    Content = new ReadOnlyMemoryContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
                };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _deploymentToken);
                using var response = await _upstream.SendAsync(request);
                if (response.IsSuccessStatusCode || (int)response.StatusCode is >= 400 and < 500 and not 429)
                {
                    if (!response.IsSuccessStatusCode)
                    {
                        await Console.Error.WriteLineAsync($"[hangar-wrapper] {batch.Count} log records refused: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                    }

                    return;
                }
            }
            catch (HttpRequestException)
            {
                // The platform is unreachable for now; retried below.
            }

            if (attempt == Retries.Length)
            {
                await Console.Error.WriteLineAsync($"[hangar-wrapper] gave up shipping {batch.Count} log records: {_upstream.BaseAddress} is not answering");
                return;
            }

            await Task.Delay(Retries[attempt]);
        }
    }

    private byte[] Serialize(List<Line> batch, long dropped)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + batch.Count * 160);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("resourceLogs");
            json.WriteStartObject();
            json.WriteStartObject("resource");
            json.WriteStartArray("attributes");
            WriteAttribute(json, "service.name", Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") ?? "blink.agent");
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartArray("scopeLogs");
            json.WriteStartObject();
            json.WriteStartObject("scope");
            json.WriteString("name", "hangar.wrapper");
            json.WriteEndObject();
            json.WriteStartArray("logRecords");
            if (dropped > 0)
            {
                WriteRecord(json, batch.Count > 0 ? batch[0].TimeUnixNano : 0, 13, "WARN", $"[hangar-wrapper] {dropped} earlier lines of output were dropped: the agent printed faster than they could be shipped.", "stderr", null, null);
            }

            foreach (var line in batch)
            {
                var (severity, level, text, traceId, spanId) = _structured && TryReadStructured(line.Text) is { } s ? s : Plain(line);
                WriteRecord(json, line.TimeUnixNano, severity, level, text, line.Stderr ? "stderr" : "stdout", traceId, spanId);
            }

            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static (int, string, string, string?, string?) Plain(Line line) =>
        line.Stderr ? (17, "ERROR", line.Text, null, null) : (9, "INFO", line.Text, null, null);

    private static (int, string, string, string?, string?)? TryReadStructured(string text)
    {
        if (!text.StartsWith('{'))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (!root.TryGetProperty("message", out var message))
            {
                return null;
            }

            var level = root.TryGetProperty("level", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString()!.ToLowerInvariant() : "info";
            var severity = level switch { "trace" => 1, "debug" => 5, "warn" or "warning" => 13, "error" => 17, "fatal" => 21, _ => 9 };
            return (severity, level.ToUpperInvariant(), message.ValueKind == JsonValueKind.String ? message.GetString()! : message.GetRawText(),
                Hex(root, "trace_id", 32), Hex(root, "span_id", 16));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Hex(JsonElement root, string name, int length) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { } text
            && text.Length == length && text.All(char.IsAsciiHexDigit) ? text : null;

    private static void WriteRecord(Utf8JsonWriter json, long time, int severity, string level, string text, string stream, string? traceId, string? spanId)
    {
        json.WriteStartObject();
        json.WriteString("timeUnixNano", time.ToString());
        json.WriteNumber("severityNumber", severity);
        json.WriteString("severityText", level);
        json.WriteStartObject("body");
        json.WriteString("stringValue", text);
        json.WriteEndObject();
        json.WriteStartArray("attributes");
        WriteAttribute(json, "log.iostream", stream);
        json.WriteEndArray();
        if (traceId is not null && spanId is not null)
        {
            json.WriteString("traceId", traceId);
            json.WriteString("spanId", spanId);
        }

        json.WriteEndObject();
    }

    private static void WriteAttribute(Utf8JsonWriter json, string key, string value)
    {
        json.WriteStartObject();
        json.WriteString("key", key);
        json.WriteStartObject("value");
        json.WriteString("stringValue", value);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
