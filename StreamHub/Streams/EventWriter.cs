using System.Buffers;
using System.Net.WebSockets;
using System.Text;

namespace Hangar.StreamHub.Streams;

/// <summary>How events reach one client: SSE frames on an HTTP response, or JSON text frames on a WebSocket.</summary>
internal abstract class EventWriter
{
    /// <summary>The client's end: it left, or the connection broke.</summary>
    public abstract CancellationToken Closed { get; }

    public abstract string Transport { get; }

    /// <summary>Writes the batch's events after <paramref name="after"/> (none, some or all of them), without flushing.</summary>
    public abstract ValueTask WriteAsync(EventBatch batch, EventId after);

    public abstract ValueTask WriteAsync(IReadOnlyList<StreamEvent> events);

    /// <summary>A <c>reset</c> whose id is the entry the stream goes on after.</summary>
    public abstract ValueTask WriteResetAsync(StreamId resumeAfter, ReadOnlySpan<byte> data);

    public abstract ValueTask FlushAsync();

    /// <summary>Nothing to send for a while: keep proxies from closing the connection.</summary>
    public abstract ValueTask HeartbeatAsync();

    /// <summary>
    /// Ends the stream at once because the client fell behind (a write to it may be stuck): it reconnects and resumes
    /// from the last event it got. Called from the feed's reader, so it must not wait.
    /// </summary>
    public abstract void Abort();
}

/// <summary>Server-Sent Events: <c>id:</c>, <c>event:</c>, <c>data:</c> per event, a comment as the heartbeat.</summary>
internal sealed class SseEventWriter(HttpContext context) : EventWriter
{
    private readonly Stream _body = context.Response.Body;

    public override CancellationToken Closed => context.RequestAborted;

    public override string Transport => "sse";

    public static async Task<SseEventWriter> StartAsync(HttpContext context)
    {
        context.Response.Headers.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache, no-transform";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        await context.Response.Body.FlushAsync(context.RequestAborted);
        return new SseEventWriter(context);
    }

    public override ValueTask WriteAsync(EventBatch batch, EventId after) =>
        batch.First > after ? _body.WriteAsync(batch.Sse, Closed)
        : batch.Last > after ? _body.WriteAsync(EventBatch.EncodeSse(batch.After(after)), Closed)
        : ValueTask.CompletedTask;

    public override ValueTask WriteAsync(IReadOnlyList<StreamEvent> events) => _body.WriteAsync(EventBatch.EncodeSse(events), Closed);

    public override ValueTask WriteResetAsync(StreamId resumeAfter, ReadOnlySpan<byte> data)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        EventBatch.WriteSse(buffer, EventId.EndOf(resumeAfter), resumeAfter.ToString(), "reset"u8, data);
        return _body.WriteAsync(buffer.WrittenMemory, Closed);
    }

    public override async ValueTask FlushAsync() => await _body.FlushAsync(Closed);

    public override async ValueTask HeartbeatAsync()
    {
        await _body.WriteAsync(": heartbeat\n\n"u8.ToArray(), Closed);
        await _body.FlushAsync(Closed);
    }

    public override void Abort() => context.Abort();
}

/// <summary>
/// A WebSocket on the same path: each event one text frame <c>{"id","event","data"}</c>. Pings keep it open
/// (<see cref="WebSocketOptions.KeepAliveInterval"/>); what the client sends is read only to see it close.
/// </summary>
internal sealed class WebSocketEventWriter : EventWriter
{
    private readonly WebSocket _socket;
    private readonly CancellationTokenSource _closed;

    private WebSocketEventWriter(WebSocket socket, CancellationToken aborted)
    {
        _socket = socket;
        _closed = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        _ = WatchForCloseAsync();
    }

    public override CancellationToken Closed => _closed.Token;

    public override string Transport => "websocket";

    public static async Task<WebSocketEventWriter> StartAsync(HttpContext context) =>
        new(await context.WebSockets.AcceptWebSocketAsync(), context.RequestAborted);

    public override async ValueTask WriteAsync(EventBatch batch, EventId after)
    {
        if (batch.First > after)
        {
            foreach (var frame in batch.Json)
            {
                await SendAsync(frame);
            }
        }
        else if (batch.Last > after)
        {
            await WriteAsync([.. batch.After(after)]);
        }
    }

    public override async ValueTask WriteAsync(IReadOnlyList<StreamEvent> events)
    {
        foreach (var e in events)
        {
            await SendAsync(EventBatch.EncodeJson(e));
        }
    }

    public override ValueTask WriteResetAsync(StreamId resumeAfter, ReadOnlySpan<byte> data) =>
        SendAsync(EventBatch.EncodeJson(EventId.EndOf(resumeAfter), resumeAfter.ToString(), "reset"u8, data));

    public override ValueTask FlushAsync() => ValueTask.CompletedTask;

    public override ValueTask HeartbeatAsync() => ValueTask.CompletedTask;

    public override void Abort() => _socket.Abort();

    /// <summary>Completes the close handshake the client started, or starts one (the server is stopping).</summary>
    public async Task CloseAsync()
    {
        if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // Already closed.
            }
        }
    }

    private ValueTask SendAsync(ReadOnlyMemory<byte> frame) => _socket.SendAsync(frame, WebSocketMessageType.Text, endOfMessage: true, Closed);

    private async Task WatchForCloseAsync()
    {
        var buffer = new byte[256];
        try
        {
            while (true)
            {
                var received = await _socket.ReceiveAsync(buffer.AsMemory(), _closed.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
        {
            // Broken or aborted: the stream ends below.
        }

        await _closed.CancelAsync();
    }
}

internal static class ResetData
{
    public static byte[] For(Guid chatId, EventId asked, StreamId resumeAfter) => Encoding.UTF8.GetBytes(
        $$"""{"chat_id":"{{chatId}}","reason":"The events after {{asked}} are no longer buffered: reload the chat from the API, then continue from this event.","resume_after":"{{resumeAfter}}"}""");
}
