using System.Text;
using System.Text.Json.Nodes;

namespace Hangar.AgentProtocol.Tests;

/// <summary>Reads a recorded HTTP exchange (shared/protocol/blink): the response body after the header block.</summary>
internal static class Recording
{
    public static byte[] ResponseBody(string name)
    {
        var text = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Recordings", name));
        var headersEnd = text.IndexOf("\r\n\r\n", text.IndexOf("HTTP/1.1", StringComparison.Ordinal), StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(text[(headersEnd + 4)..]);
    }

    public static string Text(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Recordings", name));

    /// <summary>The <c>data:</c> of every <c>message.created</c> event in a Blink server's client stream.</summary>
    public static List<JsonObject> BlinkServerMessagesCreated(string name)
    {
        var lines = Text(name).Split('\n');
        var messages = new List<JsonObject>();
        for (var i = 0; i < lines.Length - 1; i++)
        {
            if (lines[i] == "event: message.created")
            {
                messages.Add(JsonNode.Parse(lines[i + 1]["data: ".Length..])!.AsObject());
            }
        }

        return messages;
    }

    /// <summary>Splits a recorded chat response into its chunks, through the production SSE reader.</summary>
    public static async Task<List<byte[]>> ChunksAsync(string name, int readSize = int.MaxValue)
    {
        var events = new List<byte[]>();
        await foreach (var data in SseFrameReader.ReadEventsAsync(new TrickleStream(ResponseBody(name), readSize)))
        {
            events.Add(data);
        }

        Assert.Equal("[DONE]", Encoding.UTF8.GetString(events[^1]));
        return events[..^1];
    }
}

/// <summary>A stream that hands out its bytes a few at a time, as a slow network would.</summary>
internal sealed class TrickleStream(byte[] bytes, int readSize) : Stream
{
    private int _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => bytes.Length;

    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = Math.Min(Math.Min(count, readSize), bytes.Length - _position);
        Array.Copy(bytes, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
