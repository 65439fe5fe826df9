using Hangar.Contracts;
using Hangar.Redis;
using Microsoft.Extensions.Options;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// <c>GET /streams/chats/{chatId}</c>: the chat's events as Server-Sent Events (<c>id:</c> the event id, see <see cref="EventId"/>,
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
        if (!EventId.TryParse(asked, out var after))
        {
            await Results.Problem(statusCode: 400, title: "Bad resume position.", detail: $"'{asked}' is not an event id (like 1732239000000-0 or 1732239000000-0.3).").ExecuteAsync(context);
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
            var abortWhenBehind = subscription.FellBehindToken.Register(writer.Abort);
            try
            {
                await ServeAsync(chatId, after, subscription, writer, feeds.Commands, options.Value, metrics);
            }
            catch (Exception ex) when (writer.Closed.IsCancellationRequested || subscription.FellBehind
                || ex is RedisConnectionException or RedisServerException or ObjectDisposedException or System.Net.WebSockets.WebSocketException)
            {
                // The client left, fell behind, or Redis went away: it reconnects with its last event id and misses nothing.
            }
            finally
            {
                await abortWhenBehind.DisposeAsync();
                if (subscription.FellBehind)
                {
                    metrics.SlowConsumerCloses.Add(1, transport);
                }

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
        Guid chatId, EventId after, Subscription subscription, EventWriter writer, RedisConnection redis, StreamHubOptions options, StreamMetrics metrics)
    {
        var key = ChatEvents.StreamKey(chatId);
        var state = await StreamState.ReadAsync(redis, key);
        if (after != EventId.Zero)
        {
            metrics.Resumes.Add(1, new KeyValuePair<string, object?>("reset", state.Missed(after.Entry)));
        }

        if (state.Missed(after.Entry))
        {
            after = await WriteResetAsync(writer, chatId, after, state.ResumeAfter);
        }

        // Catch up to where the feed took over, from the entry of the event the client has (inclusive): if that entry
        // is gone, the stream was trimmed past it.
        var start = EventId.EndOf(subscription.Start);
        while (!subscription.FellBehind && after < start)
        {
            var end = subscription.Start.ToString();
            var entry = after.Entry.ToString();
            var backlog = after == EventId.Zero
                ? await redis.XRangeAsync(key, "-", end, options.ReadBatchSize)
                : await redis.XRangeAsync(key, entry, end, options.ReadBatchSize + 1);
            if (after != EventId.Zero && (backlog.Count == 0 || backlog[0].Id != entry))
            {
                after = await WriteResetAsync(writer, chatId, after, (await StreamState.ReadAsync(redis, key)).ResumeAfter);
                continue;
            }

            List<StreamEvent> fresh = [.. StreamEvent.In(backlog).Where(e => e.Id > after)];
            if (fresh.Count == 0)
            {
                break;
            }

            await writer.WriteAsync(fresh);
            await writer.FlushAsync();
            metrics.EventsOut.Add(fresh.Count);
            after = fresh[^1].Id;
        }

        while (!writer.Closed.IsCancellationRequested)
        {
            var written = 0;
            while (subscription.TryRead(out var batch))
            {
                if (batch.GapBefore is { } gap && EventId.EndOf(gap) >= after)
                {
                    after = await WriteResetAsync(writer, chatId, after, gap);
                }

                if (batch.Last > after)
                {
                    await writer.WriteAsync(batch, after);
                    written += batch.First > after ? batch.Count : batch.After(after).Count();
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

    private static async Task<EventId> WriteResetAsync(EventWriter writer, Guid chatId, EventId asked, StreamId resumeAfter)
    {
        await writer.WriteResetAsync(resumeAfter, ResetData.For(chatId, asked, resumeAfter));
        return EventId.EndOf(resumeAfter);
    }

    private static string? BearerToken(HttpContext context)
    {
        string? header = context.Request.Headers.Authorization;
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }
}
