using System.Text.Json;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// Reads OTLP/HTTP protobuf (<c>ExportTraceServiceRequest</c>, <c>ExportLogsServiceRequest</c>) straight into
/// records, by field number (opentelemetry-proto v1). Unknown fields are skipped, as protobuf requires.
/// </summary>
internal static class OtlpProtobuf
{
    public static List<SpanRecord> ReadTraces(ReadOnlySpan<byte> payload)
    {
        var spans = new List<SpanRecord>();
        var writers = new Writers();
        ForEach(payload, 1, (resourceSpans, w) => ReadResourceBlock(resourceSpans, w, (scopeSpans, context, w2) =>
            ForEach(scopeSpans, 2, (span, w3) => spans.Add(ReadSpan(span, context, w3)), w2)), writers);
        return spans;
    }

    public static List<LogRecord> ReadLogs(ReadOnlySpan<byte> payload)
    {
        var logs = new List<LogRecord>();
        var writers = new Writers();
        ForEach(payload, 1, (resourceLogs, w) => ReadResourceBlock(resourceLogs, w, (scopeLogs, context, w2) =>
            ForEach(scopeLogs, 2, (log, w3) => logs.Add(ReadLog(log, context, w3)), w2)), writers);
        return logs;
    }

    private delegate void MessageHandler(ReadOnlySpan<byte> message, Writers writers);

    private delegate void ScopeHandler(ReadOnlySpan<byte> scopeBlock, OtlpContext context, Writers writers);

    /// <summary>The JSON writers, reused for every record of a payload.</summary>
    private sealed class Writers
    {
        public AttributeWriter Resource { get; } = new();

        public AttributeWriter Record { get; } = new();

        public AttributeWriter Events { get; } = new();
    }

    /// <summary>Calls <paramref name="handler"/> with each occurrence of the repeated message field <paramref name="field"/>.</summary>
    private static void ForEach(ReadOnlySpan<byte> message, int field, MessageHandler handler, Writers writers)
    {
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            if (f == field)
            {
                ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "repeated message");
                handler(reader.ReadBytes(), writers);
            }
            else
            {
                reader.Skip(wire);
            }
        }
    }

    /// <summary>
    /// A ResourceSpans or ResourceLogs: field 1 the resource, field 2 the scope blocks. The resource is read first
    /// wherever it sits, so every record under it gets its attributes.
    /// </summary>
    private static void ReadResourceBlock(ReadOnlySpan<byte> block, Writers writers, ScopeHandler scopeHandler)
    {
        var resource = writers.Resource;
        var json = resource.Begin();
        var reader = new ProtoReader(block);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            if (f == 1 && wire == ProtoReader.LengthDelimited)
            {
                ReadKeyValues(reader.ReadBytes(), 1, json, resource);
            }
            else
            {
                reader.Skip(wire);
            }
        }

        var resourceJson = resource.End();
        var (serviceName, chat, run, step) = (resource.ServiceName, resource.ChatId, resource.RunId, resource.StepId);
        reader = new ProtoReader(block);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            if (f == 2 && wire == ProtoReader.LengthDelimited)
            {
                var scopeBlock = reader.ReadBytes();
                var context = new OtlpContext(resourceJson, serviceName, ReadScopeName(scopeBlock),
                    BlinkAttributes.ParseId(chat), BlinkAttributes.ParseId(run), BlinkAttributes.ParseId(step));
                scopeHandler(scopeBlock, context, writers);
            }
            else
            {
                reader.Skip(wire);
            }
        }
    }

    private static string? ReadScopeName(ReadOnlySpan<byte> scopeBlock)
    {
        var reader = new ProtoReader(scopeBlock);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            if (f == 1 && wire == ProtoReader.LengthDelimited)
            {
                var scope = new ProtoReader(reader.ReadBytes());
                while (!scope.End)
                {
                    var (sf, sw) = scope.ReadTag();
                    if (sf == 1 && sw == ProtoReader.LengthDelimited)
                    {
                        return scope.ReadString();
                    }

                    scope.Skip(sw);
                }

                return null;
            }

            reader.Skip(wire);
        }

        return null;
    }

    private static SpanRecord ReadSpan(ReadOnlySpan<byte> span, OtlpContext context, Writers writers)
    {
        string? traceId = null, spanId = null, parent = null, name = null, statusMessage = null;
        int kind = 0, statusCode = 0;
        long start = 0, end = 0;
        var attributes = writers.Record;
        var json = attributes.Begin();
        var events = writers.Events;
        var eventsJson = events.Begin();
        eventsJson.WriteStartArray("events");
        var eventCount = 0;
        var reader = new ProtoReader(span);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            switch (f)
            {
                case 1: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "trace_id"); traceId = Hex(reader.ReadBytes(), 16, "trace_id"); break;
                case 2: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "span_id"); spanId = Hex(reader.ReadBytes(), 8, "span_id"); break;
                case 4: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "parent_span_id"); parent = HexOrNull(reader.ReadBytes(), 8, "parent_span_id"); break;
                case 5: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "name"); name = reader.ReadString(); break;
                case 6: ProtoReader.Expect(wire, ProtoReader.Varint, "kind"); kind = (int)reader.ReadVarint(); break;
                case 7: ProtoReader.Expect(wire, ProtoReader.Fixed64, "start_time_unix_nano"); start = (long)reader.ReadFixed64(); break;
                case 8: ProtoReader.Expect(wire, ProtoReader.Fixed64, "end_time_unix_nano"); end = (long)reader.ReadFixed64(); break;
                case 9: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "attributes"); ReadKeyValue(reader.ReadBytes(), json, attributes); break;
                case 11: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "events"); ReadEvent(reader.ReadBytes(), eventsJson); eventCount++; break;
                case 15: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "status"); (statusCode, statusMessage) = ReadStatus(reader.ReadBytes()); break;
                default: reader.Skip(wire); break;
            }
        }

        eventsJson.WriteEndArray();
        var eventsText = events.EndRaw();
        if (traceId is null || spanId is null)
        {
            throw new OtlpFormatException("A span has no trace_id or span_id.");
        }

        return new SpanRecord(context, traceId, spanId, parent, name ?? string.Empty, kind, start, end, statusCode, statusMessage,
            attributes.End(), eventCount > 0 ? eventsText["{\"events\":".Length..^1] : null,
            BlinkAttributes.ParseId(attributes.ChatId) ?? context.ChatId, BlinkAttributes.ParseId(attributes.RunId) ?? context.RunId,
            BlinkAttributes.ParseId(attributes.StepId) ?? context.StepId);
    }

    private static LogRecord ReadLog(ReadOnlySpan<byte> log, OtlpContext context, Writers writers)
    {
        long time = 0, observed = 0;
        var severity = 0;
        string? severityText = null, body = null, traceId = null, spanId = null;
        var attributes = writers.Record;
        var json = attributes.Begin();
        var reader = new ProtoReader(log);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            switch (f)
            {
                case 1: ProtoReader.Expect(wire, ProtoReader.Fixed64, "time_unix_nano"); time = (long)reader.ReadFixed64(); break;
                case 2: ProtoReader.Expect(wire, ProtoReader.Varint, "severity_number"); severity = (int)reader.ReadVarint(); break;
                case 3: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "severity_text"); severityText = reader.ReadString(); break;
                case 5: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "body"); body = BodyText(reader.ReadBytes(), writers.Events); break;
                case 6: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "attributes"); ReadKeyValue(reader.ReadBytes(), json, attributes); break;
                case 9: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "trace_id"); traceId = HexOrNull(reader.ReadBytes(), 16, "trace_id"); break;
                case 10: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "span_id"); spanId = HexOrNull(reader.ReadBytes(), 8, "span_id"); break;
                case 11: ProtoReader.Expect(wire, ProtoReader.Fixed64, "observed_time_unix_nano"); observed = (long)reader.ReadFixed64(); break;
                default: reader.Skip(wire); break;
            }
        }

        return new LogRecord(context, time, observed, severity, severityText, body, attributes.End(), traceId, spanId,
            BlinkAttributes.ParseId(attributes.ChatId) ?? context.ChatId, BlinkAttributes.ParseId(attributes.RunId) ?? context.RunId,
            BlinkAttributes.ParseId(attributes.StepId) ?? context.StepId);
    }

    /// <summary>A log body: a string as it is, anything else as JSON.</summary>
    private static string? BodyText(ReadOnlySpan<byte> anyValue, AttributeWriter scratch)
    {
        var reader = new ProtoReader(anyValue);
        if (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            if (f == 1 && wire == ProtoReader.LengthDelimited)
            {
                return reader.ReadString();
            }
        }

        var json = scratch.Begin();
        scratch.Key("body");
        WriteAnyValue(anyValue, json);
        var text = scratch.End()!;
        return text["{\"body\":".Length..^1];
    }

    private static void ReadEvent(ReadOnlySpan<byte> message, Utf8JsonWriter json)
    {
        long time = 0;
        string? name = null;
        var reader = new ProtoReader(message);
        json.WriteStartObject();
        json.WriteStartObject("attributes");
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            switch (f)
            {
                case 1: ProtoReader.Expect(wire, ProtoReader.Fixed64, "event.time_unix_nano"); time = (long)reader.ReadFixed64(); break;
                case 2: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "event.name"); name = reader.ReadString(); break;
                case 3: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "event.attributes"); ReadKeyValue(reader.ReadBytes(), json, null); break;
                default: reader.Skip(wire); break;
            }
        }

        json.WriteEndObject();
        json.WriteString("name", name);
        json.WriteNumber("time_unix_nano", time);
        json.WriteEndObject();
    }

    private static (int Code, string? Message) ReadStatus(ReadOnlySpan<byte> message)
    {
        var reader = new ProtoReader(message);
        (int Code, string? Message) status = (0, null);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            if (f == 2 && wire == ProtoReader.LengthDelimited)
            {
                status.Message = reader.ReadString();
            }
            else if (f == 3 && wire == ProtoReader.Varint)
            {
                status.Code = (int)reader.ReadVarint();
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return status;
    }

    /// <summary>Every KeyValue in field <paramref name="field"/> of a message (a Resource's attributes, a KeyValueList).</summary>
    private static void ReadKeyValues(ReadOnlySpan<byte> message, int field, Utf8JsonWriter json, AttributeWriter? remember)
    {
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            if (f == field && wire == ProtoReader.LengthDelimited)
            {
                ReadKeyValue(reader.ReadBytes(), json, remember);
            }
            else
            {
                reader.Skip(wire);
            }
        }
    }

    private static void ReadKeyValue(ReadOnlySpan<byte> message, Utf8JsonWriter json, AttributeWriter? remember)
    {
        string? key = null;
        var value = ReadOnlySpan<byte>.Empty;
        var reader = new ProtoReader(message);
        while (!reader.End)
        {
            var (f, wire) = reader.ReadTag();
            if (f == 1 && wire == ProtoReader.LengthDelimited)
            {
                key = reader.ReadString();
            }
            else if (f == 2 && wire == ProtoReader.LengthDelimited)
            {
                value = reader.ReadBytes();
            }
            else
            {
                reader.Skip(wire);
            }
        }

        AttributeWriter.Write(json, remember, key, value, WriteAnyValue);
    }

    /// <summary>Writes an AnyValue as JSON; returns its text when it is a string.</summary>
    private static string? WriteAnyValue(ReadOnlySpan<byte> message, Utf8JsonWriter json)
    {
        var reader = new ProtoReader(message);
        if (reader.End)
        {
            json.WriteNullValue();
            return null;
        }

        var (f, wire) = reader.ReadTag();
        switch (f)
        {
            case 1:
                ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "string_value");
                var text = reader.ReadString();
                json.WriteStringValue(text);
                return text;
            case 2: ProtoReader.Expect(wire, ProtoReader.Varint, "bool_value"); json.WriteBooleanValue(reader.ReadVarint() != 0); break;
            case 3: ProtoReader.Expect(wire, ProtoReader.Varint, "int_value"); json.WriteNumberValue((long)reader.ReadVarint()); break;
            case 4: ProtoReader.Expect(wire, ProtoReader.Fixed64, "double_value"); json.WriteNumberValue(SafeDouble(BitConverter.UInt64BitsToDouble(reader.ReadFixed64()))); break;
            case 5:
                ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "array_value");
                json.WriteStartArray();
                var array = new ProtoReader(reader.ReadBytes());
                while (!array.End)
                {
                    var (af, aw) = array.ReadTag();
                    if (af == 1 && aw == ProtoReader.LengthDelimited)
                    {
                        WriteAnyValue(array.ReadBytes(), json);
                    }
                    else
                    {
                        array.Skip(aw);
                    }
                }

                json.WriteEndArray();
                break;
            case 6:
                ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "kvlist_value");
                json.WriteStartObject();
                ReadKeyValues(reader.ReadBytes(), 1, json, null);
                json.WriteEndObject();
                break;
            case 7: ProtoReader.Expect(wire, ProtoReader.LengthDelimited, "bytes_value"); json.WriteBase64StringValue(reader.ReadBytes()); break;
            default: reader.Skip(wire); json.WriteNullValue(); break;
        }

        return null;
    }

    /// <summary>JSON has no NaN or infinities: such a value makes the payload unreadable rather than silently changed.</summary>
    private static double SafeDouble(double value) =>
        double.IsFinite(value) ? value : throw new OtlpFormatException("A double attribute is NaN or infinite; JSON cannot hold it.");

    private static string Hex(ReadOnlySpan<byte> bytes, int length, string field) =>
        HexOrNull(bytes, length, field) ?? throw new OtlpFormatException($"'{field}' is empty.");

    /// <summary>Lowercase hex, as OTLP/JSON writes ids; null for an absent (empty or all-zero) id.</summary>
    private static string? HexOrNull(ReadOnlySpan<byte> bytes, int length, string field)
    {
        if (bytes.IsEmpty || !bytes.ContainsAnyExcept((byte)0))
        {
            return null;
        }

        return bytes.Length == length
            ? Convert.ToHexStringLower(bytes)
            : throw new OtlpFormatException($"'{field}' is {bytes.Length} bytes; it must be {length}.");
    }
}
