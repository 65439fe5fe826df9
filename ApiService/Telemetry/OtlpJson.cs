using System.Globalization;
using System.Text.Json;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// Reads OTLP/HTTP JSON (what the Blink SDK's exporter sends): the protobuf schema in lowerCamelCase, ids as hex,
/// 64-bit integers as strings or numbers, enums as integers.
/// </summary>
internal static class OtlpJson
{
    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    public static List<SpanRecord> ReadTraces(ReadOnlyMemory<byte> payload)
    {
        var spans = new List<SpanRecord>();
        var resource = new AttributeWriter();
        var attributes = new AttributeWriter();
        var events = new AttributeWriter();
        using var document = Parse(payload);
        foreach (var (context, scope) in Scopes(document.RootElement, "resourceSpans", "scopeSpans", resource))
        {
            foreach (var span in Array(scope, "spans"))
            {
                var json = attributes.Begin();
                WriteKeyValues(span, json, attributes);
                var eventsJson = events.Begin();
                eventsJson.WriteStartArray("events");
                var eventCount = 0;
                foreach (var e in Array(span, "events"))
                {
                    eventsJson.WriteStartObject();
                    eventsJson.WriteStartObject("attributes");
                    WriteKeyValues(e, eventsJson, null);
                    eventsJson.WriteEndObject();
                    eventsJson.WriteString("name", String(e, "name"));
                    eventsJson.WriteNumber("time_unix_nano", Int64(e, "timeUnixNano"));
                    eventsJson.WriteEndObject();
                    eventCount++;
                }

                eventsJson.WriteEndArray();
                var eventsText = events.EndRaw();
                var status = span.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Object ? s : default;
                spans.Add(new SpanRecord(
                    context,
                    Id(span, "traceId", 32) ?? throw new OtlpFormatException("A span has no traceId."),
                    Id(span, "spanId", 16) ?? throw new OtlpFormatException("A span has no spanId."),
                    Id(span, "parentSpanId", 16),
                    String(span, "name") ?? string.Empty,
                    (int)Int64(span, "kind"),
                    Int64(span, "startTimeUnixNano"),
                    Int64(span, "endTimeUnixNano"),
                    status.ValueKind == JsonValueKind.Object ? (int)Int64(status, "code") : 0,
                    status.ValueKind == JsonValueKind.Object ? String(status, "message") : null,
                    attributes.End(),
                    eventCount > 0 ? eventsText["{\"events\":".Length..^1] : null,
                    BlinkAttributes.ParseId(attributes.ChatId) ?? context.ChatId,
                    BlinkAttributes.ParseId(attributes.RunId) ?? context.RunId,
                    BlinkAttributes.ParseId(attributes.StepId) ?? context.StepId));
            }
        }

        return spans;
    }

    public static List<LogRecord> ReadLogs(ReadOnlyMemory<byte> payload)
    {
        var logs = new List<LogRecord>();
        var resource = new AttributeWriter();
        var attributes = new AttributeWriter();
        var scratch = new AttributeWriter();
        using var document = Parse(payload);
        foreach (var (context, scope) in Scopes(document.RootElement, "resourceLogs", "scopeLogs", resource))
        {
            foreach (var log in Array(scope, "logRecords"))
            {
                var json = attributes.Begin();
                WriteKeyValues(log, json, attributes);
                string? body = null;
                if (log.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.Object)
                {
                    if (b.TryGetProperty("stringValue", out var text) && text.ValueKind == JsonValueKind.String)
                    {
                        body = text.GetString();
                    }
                    else
                    {
                        var bodyJson = scratch.Begin();
                        scratch.Key("body");
                        WriteAnyValue(b, bodyJson);
                        body = scratch.End()!["{\"body\":".Length..^1];
                    }
                }

                logs.Add(new LogRecord(
                    context, Int64(log, "timeUnixNano"), Int64(log, "observedTimeUnixNano"), (int)Int64(log, "severityNumber"), String(log, "severityText"), body,
                    attributes.End(), Id(log, "traceId", 32), Id(log, "spanId", 16),
                    BlinkAttributes.ParseId(attributes.ChatId) ?? context.ChatId,
                    BlinkAttributes.ParseId(attributes.RunId) ?? context.RunId,
                    BlinkAttributes.ParseId(attributes.StepId) ?? context.StepId));
            }
        }

        return logs;
    }

    private static JsonDocument Parse(ReadOnlyMemory<byte> payload)
    {
        try
        {
            var document = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 64 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new OtlpFormatException("The payload is not a JSON object.");
            }

            return document;
        }
        catch (JsonException ex)
        {
            throw new OtlpFormatException($"The payload is not valid JSON: {ex.Message}");
        }
    }

    /// <summary>Each scope block with the context of its resource.</summary>
    private static IEnumerable<(OtlpContext Context, JsonElement Scope)> Scopes(JsonElement root, string resourceField, string scopeField, AttributeWriter resource)
    {
        foreach (var block in Array(root, resourceField))
        {
            var json = resource.Begin();
            if (block.TryGetProperty("resource", out var r) && r.ValueKind == JsonValueKind.Object)
            {
                WriteKeyValues(r, json, resource);
            }

            var resourceJson = resource.End();
            foreach (var scope in Array(block, scopeField))
            {
                var scopeName = scope.TryGetProperty("scope", out var s) && s.ValueKind == JsonValueKind.Object ? String(s, "name") : null;
                yield return (new OtlpContext(resourceJson, resource.ServiceName, scopeName,
                    BlinkAttributes.ParseId(resource.ChatId), BlinkAttributes.ParseId(resource.RunId), BlinkAttributes.ParseId(resource.StepId)), scope);
            }
        }
    }

    private static IEnumerable<JsonElement> Array(JsonElement parent, string name)
    {
        if (!parent.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        return array.ValueKind == JsonValueKind.Array ? array.EnumerateArray() : throw new OtlpFormatException($"'{name}' must be an array.");
    }

    /// <summary>The object's <c>attributes</c> (KeyValue list) written into <paramref name="json"/>.</summary>
    private static void WriteKeyValues(JsonElement owner, Utf8JsonWriter json, AttributeWriter? remember)
    {
        foreach (var kv in Array(owner, "attributes"))
        {
            AttributeWriter.Write(json, remember, kv.ValueKind == JsonValueKind.Object ? String(kv, "key") : null, kv,
                static (kv, json) => kv.TryGetProperty("value", out var value) ? WriteAnyValue(value, json) : WriteNull(json));
        }
    }

    private static string? WriteNull(Utf8JsonWriter json)
    {
        json.WriteNullValue();
        return null;
    }

    /// <summary>Writes an AnyValue as plain JSON; returns its text when it is a string.</summary>
    private static string? WriteAnyValue(JsonElement value, Utf8JsonWriter json)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            return value.ValueKind == JsonValueKind.Null ? WriteNull(json) : throw new OtlpFormatException("An attribute value must be an AnyValue object.");
        }

        foreach (var property in value.EnumerateObject())
        {
            switch (property.Name)
            {
                case "stringValue":
                    var text = property.Value.GetString();
                    json.WriteStringValue(text);
                    return text;
                case "boolValue": json.WriteBooleanValue(property.Value.ValueKind == JsonValueKind.True); return null;
                case "intValue": json.WriteNumberValue(ToInt64(property.Value, "intValue")); return null;
                case "doubleValue":
                    json.WriteNumberValue(property.Value.ValueKind == JsonValueKind.Number ? property.Value.GetDouble() : throw new OtlpFormatException("'doubleValue' must be a number."));
                    return null;
                case "bytesValue": json.WriteStringValue(property.Value.GetString()); return null;
                case "arrayValue":
                    json.WriteStartArray();
                    foreach (var item in Array(property.Value, "values"))
                    {
                        WriteAnyValue(item, json);
                    }

                    json.WriteEndArray();
                    return null;
                case "kvlistValue":
                    json.WriteStartObject();
                    foreach (var kv in Array(property.Value, "values"))
                    {
                        json.WritePropertyName(String(kv, "key") ?? throw new OtlpFormatException("An attribute has no key."));
                        if (kv.TryGetProperty("value", out var v))
                        {
                            WriteAnyValue(v, json);
                        }
                        else
                        {
                            json.WriteNullValue();
                        }
                    }

                    json.WriteEndObject();
                    return null;
            }
        }

        return WriteNull(json);
    }

    private static string? String(JsonElement owner, string name) =>
        owner.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static long Int64(JsonElement owner, string name) =>
        owner.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? ToInt64(value, name) : 0;

    /// <summary>OTLP/JSON writes 64-bit integers as decimal strings; numbers are accepted too.</summary>
    private static long ToInt64(JsonElement value, string name) => value.ValueKind switch
    {
        JsonValueKind.Number when value.TryGetInt64(out var n) => n,
        JsonValueKind.String when long.TryParse(value.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => n,
        JsonValueKind.String when ulong.TryParse(value.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var u) => (long)u,
        _ => throw new OtlpFormatException($"'{name}' must be an integer (a number or a decimal string)."),
    };

    /// <summary>A trace or span id: hex of <paramref name="hexLength"/> digits, lowercased; null when absent or empty.</summary>
    private static string? Id(JsonElement owner, string name, int hexLength)
    {
        var text = String(owner, name);
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        if (text.Length != hexLength || text.AsSpan().ContainsAnyExcept(HexDigits))
        {
            throw new OtlpFormatException($"'{name}' must be {hexLength} hex digits; got '{(text.Length > 40 ? text[..40] + "…" : text)}'.");
        }

        return text.ToLowerInvariant();
    }
}
