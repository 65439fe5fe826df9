using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// Writes OTLP attributes (<c>KeyValue</c> lists) as one flat JSON object, <c>{key: value}</c>, and remembers the
/// Blink ids among them. Flat objects make attribute filters plain jsonb containment.
/// </summary>
internal sealed class AttributeWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private Utf8JsonWriter? _json;

    public int Count { get; private set; }

    public string? ChatId { get; private set; }

    public string? RunId { get; private set; }

    public string? StepId { get; private set; }

    public string? ServiceName { get; private set; }

    public Utf8JsonWriter Begin()
    {
        _buffer.ResetWrittenCount();
        Count = 0;
        ChatId = RunId = StepId = ServiceName = null;
        if (_json is null)
        {
            _json = new Utf8JsonWriter(_buffer);
        }
        else
        {
            _json.Reset(_buffer);
        }

        _json.WriteStartObject();
        return _json;
    }

    /// <summary>Call before writing an attribute's value: the key, and whether it is one Hangar files by.</summary>
    public void Key(string key)
    {
        _json!.WritePropertyName(key);
        Count++;
    }

    /// <summary>
    /// Writes one attribute to <paramref name="json"/>: its key (counted and remembered by <paramref name="remember"/>
    /// when it collects the record's attributes), then its value by <paramref name="writeValue"/>, which returns the
    /// value's text when it is a string.
    /// </summary>
    public static void Write<TValue>(Utf8JsonWriter json, AttributeWriter? remember, string? key, TValue value, Func<TValue, Utf8JsonWriter, string?> writeValue)
        where TValue : allows ref struct
    {
        if (key is null)
        {
            throw new OtlpFormatException("An attribute has no key.");
        }

        if (remember is null)
        {
            json.WritePropertyName(key);
        }
        else
        {
            remember.Key(key);
        }

        if (writeValue(value, json) is { } text)
        {
            remember?.Remember(key, text);
        }
    }

    /// <summary>Call with a string attribute's value after <see cref="Key"/>.</summary>
    public void Remember(string key, string value)
    {
        switch (key)
        {
            case BlinkAttributes.ChatId: ChatId = value; break;
            case BlinkAttributes.RunId: RunId = value; break;
            case BlinkAttributes.StepId: StepId = value; break;
            case BlinkAttributes.ServiceName: ServiceName = value; break;
        }
    }

    /// <summary>The object written since <see cref="Begin"/>, or null when it had no attributes.</summary>
    public string? End()
    {
        var text = EndRaw();
        return Count == 0 ? null : text;
    }

    /// <summary>Closes the object and returns it whatever it holds (for JSON written directly with the writer).</summary>
    public string EndRaw()
    {
        _json!.WriteEndObject();
        _json.Flush();
        return Encoding.UTF8.GetString(_buffer.WrittenSpan);
    }
}
