using Hangar.Contracts;
using Hangar.Redis;
using Microsoft.Extensions.Options;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// <c>GET /streams/chats/{chatId}</c>: the chat's events as Server-Sent Events (<c>id:</c> the Redis entry id,
/// <c>event:</c> the type, <c>data:</c> JSON), or as JSON text frames when the request is a WebSocket upgrade. A client
/// resumes with <c>Last-Event-ID</c> (or <c>?after=</c>) on any node and gets every later event once, in order: the
/// events live in Redis, not here. When the events after that position are gone (trimmed, or the stream expired),
/// the first event is <c>reset</c>: reload the chat from the API, then go on from there. Never a silent gap.
/// </summary>
public static class ChatStreamEndpoint
{
    public static IEndpointConventionBuilder MapChatStreams(this IEndpointRouteBuilder app) =>
        app.MapGet("/streams/chats/{chatId:guid}", StreamAsync).WithTags("Streams");

    internal static async Task StreamAsync(
        Guid chatId, HttpContext context, TokenSigner signer, IOptions<StreamHubOptions> options, ChatFeeds feeds, StreamMetrics metrics, TimeProvider time)
    {
        var ticket = context.Request.Query["ticket"].FirstOrDefault() ?? BearerToken(context);
        if (!signer.TryVerify(StreamTicket.Purpose, ticket, ContractsJsonContext.Default.StreamTicket, out var claims) || !claims!.IsValidFor(chatId, time.GetUtcNow()))
        {
            await Results.Problem(statusCode: 401, title: "A valid stream ticket for this chat is required.",
                detail: "Pass the ticket ApiService returned (query 'ticket' or Authorization: Bearer); tickets expire, ask GET /api/chats/{id}/stream for a new one.").ExecuteAsync(context);
            return;
        }

        var asked = context.Request.Headers["Last-Event-ID"].FirstOrDefault() ?? context.Request.Query["after"].FirstOrDefault() ?? "0-0";
        if (!StreamId.TryParse(asked, out var after))
        {
            await Results.Problem(statusCode: 400, title: "Bad resume position.", detail: $"'{asked}' is not an event id (like 1732239000000-0).").ExecuteAsync(context);
            return;
        }

        Subscription subscription;
        try
        {
            subscription = await feeds.SubscribeAsync(chatId, context.RequestAborted);
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisServerException)
        {
            await Results.Problem(statusCode: 503, title: "The event store is unavailable.", detail: "Retry in a moment; nothing is lost.").ExecuteAsync(context);
            return;
        }

        using (subscription)
        {
            EventWriter writer = context.WebSockets.IsWebSocketRequest
                ? await WebSocketEventWriter.StartAsync(context)
                : await SseEventWriter.StartAsync(context);
            var transport = new KeyValuePair<string, object?>("transport", writer.Transport);
            metrics.Subscribers.Add(1, transport);
            try
            {
                await ServeAsync(chatId, after, subscription, writer, feeds.Commands, options.Value, metrics);
            }
            catch (Exception ex) when (writer.Closed.IsCancellationRequested || ex is RedisConnectionException or RedisServerException or ObjectDisposedException)
            {
                // The client left, or Redis went away: the client reconnects with its last event id and misses nothing.
            }
            finally
            {
                metrics.Subscribers.Add(-1, transport);
                if (writer is WebSocketEventWriter socket)
                {
                    await socket.CloseAsync();
                }
            }
        }
    }

    /// <summary>Reset if need be, catch up from Redis, then follow the feed.</summary>
    private static async Task ServeAsync(
        Guid chatId, StreamId after, Subscription subscription, EventWriter writer, RedisConnection redis, StreamHubOptions options, StreamMetrics metrics)
    {
        var key = ChatEvents.StreamKey(chatId);
        if (after != StreamId.Zero)
        {
            var resetTo = await ResetPositionAsync(redis, key, after);
            metrics.Resumes.Add(1, new KeyValuePair<string, object?>("reset", resetTo is not null));
            if (resetTo is { } position)
            {
                await writer.WriteResetAsync(position.ToString(), ResetData.For(chatId, after, position));
                after = position;
            }
        }

        while (!subscription.FellBehind)
        {
            var backlog = await redis.XRangeAfterAsync(key, after.ToString(), options.ReadBatchSize);
            if (backlog.Count == 0)
            {
                break;
            }

            await writer.WriteAsync(backlog);
            await writer.FlushAsync();
            metrics.EventsOut.Add(backlog.Count);
            after = StreamId.Parse(backlog[^1].Id);
        }

        while (!writer.Closed.IsCancellationRequested)
        {
            var written = 0;
            while (subscription.TryRead(out var batch))
            {
                if (batch.Last > after)
                {
                    await writer.WriteAsync(batch, after);
                    written += batch.Entries.Count;
                    after = batch.Last;
                }
            }

            if (written > 0)
            {
                await writer.FlushAsync();
                metrics.EventsOut.Add(written);
            }

            if (subscription.FellBehind)
            {
                metrics.SlowConsumerCloses.Add(1);
                await writer.CloseBehindAsync(after);
                return;
            }

            using var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(writer.Closed);
            heartbeat.CancelAfter(options.HeartbeatInterval);
            try
            {
                await subscription.WaitToReadAsync(heartbeat.Token);
            }
            catch (OperationCanceledException) when (!writer.Closed.IsCancellationRequested)
            {
                await writer.HeartbeatAsync();
            }
        }
    }

    /// <summary>
    /// Where to go on from when events after <paramref name="after"/> may be gone: the stream's newest event, or
    /// <c>0-0</c> when the whole stream expired. Null when every later event is still there. Trimming keeps the newest
    /// events, so the client missed some exactly when entries were trimmed and it is behind the oldest one left.
    /// </summary>
    private static async Task<StreamId?> ResetPositionAsync(RedisConnection redis, string key, StreamId after)
    {
        RedisReply info;
        try
        {
            info = await redis.ExecuteAsync("XINFO", "STREAM", key);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("no such key", StringComparison.OrdinalIgnoreCase))
        {
            return StreamId.Zero;
        }

        long length = 0, added = 0;
        StreamId? oldest = null;
        var newest = StreamId.Zero;
        for (var i = 0; i + 1 < info.Count; i += 2)
        {
            var value = info[i + 1];
            switch (info[i].AsString())
            {
                case "length": length = value.Integer; break;
                case "entries-added": added = value.Integer; break;
                case "last-generated-id": newest = StreamId.Parse(value.AsString()!); break;
                case "first-entry" when !value.IsNull: oldest = StreamId.Parse(value[0].AsString()!); break;
            }
        }

        var trimmed = added > length;
        return trimmed && after < (oldest ?? newest) ? newest : null;
    }

    private static string? BearerToken(HttpContext context)
    {
        string? header = context.Request.Headers.Authorization;
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }
}
