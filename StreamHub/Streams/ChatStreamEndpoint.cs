using System.Buffers;
using System.Text;
using Hangar.Contracts;
using Hangar.Redis;
using Microsoft.Extensions.Options;

namespace Hangar.StreamHub.Streams;

/// <summary>
/// <c>GET /streams/chats/{chatId}</c>: the chat's events as Server-Sent Events, <c>id:</c> the Redis entry id,
/// <c>event:</c> the type, <c>data:</c> JSON. A client resumes with <c>Last-Event-ID</c> (or <c>?after=</c>) and gets
/// every later event once, in order, from any node: the events live in Redis, not here.
/// </summary>
public static class ChatStreamEndpoint
{
    public static IEndpointConventionBuilder MapChatStreams(this IEndpointRouteBuilder app) =>
        app.MapGet("/streams/chats/{chatId:guid}", StreamAsync).WithTags("Streams");

    internal static async Task StreamAsync(
        Guid chatId, HttpContext context, TokenSigner signer, IOptions<StreamHubOptions> options, IConfiguration configuration, TimeProvider time, ILoggerFactory loggers)
    {
        var ticket = context.Request.Query["ticket"].FirstOrDefault() ?? BearerToken(context);
        if (!signer.TryVerify(StreamTicket.Purpose, ticket, ContractsJsonContext.Default.StreamTicket, out var claims) || !claims!.IsValidFor(chatId, time.GetUtcNow()))
        {
            await Results.Problem(statusCode: 401, title: "A valid stream ticket for this chat is required.",
                detail: "Pass the ticket ApiService returned (query 'ticket' or Authorization: Bearer); tickets expire, ask GET /api/chats/{id}/stream for a new one.").ExecuteAsync(context);
            return;
        }

        var after = context.Request.Headers["Last-Event-ID"].FirstOrDefault() ?? context.Request.Query["after"].FirstOrDefault() ?? "0-0";
        if (!IsStreamId(after))
        {
            await Results.Problem(statusCode: 400, title: "Bad resume position.", detail: $"'{after}' is not an event id (like 1732239000000-0).").ExecuteAsync(context);
            return;
        }

        context.Response.Headers.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache, no-transform";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        await context.Response.Body.FlushAsync(context.RequestAborted);

        var settings = options.Value;
        var redisOptions = RedisOptions.Parse(configuration.GetConnectionString("redis")!) with { ClientName = "hangar-streamhub-reader" };
        var key = ChatEvents.StreamKey(chatId);
        var ct = context.RequestAborted;

        // Each subscriber blocks on its own connection; closing the connection is what ends a blocked read early.
        await using var reader = await RedisConnection.ConnectAsync(redisOptions, logger: loggers.CreateLogger("StreamHub.Redis"), cancellationToken: ct);
        using var closeOnAbort = ct.Register(() => _ = reader.DisposeAsync().AsTask());
        try
        {
            // Catch up without blocking, then follow.
            while (true)
            {
                var backlog = await reader.XRangeAfterAsync(key, after, settings.ReadBatchSize);
                if (backlog.Count == 0)
                {
                    break;
                }

                after = await WriteAsync(context.Response, backlog, ct);
            }

            while (!ct.IsCancellationRequested)
            {
                var read = await reader.XReadAsync([(key, after)], settings.ReadBatchSize, settings.HeartbeatInterval);
                if (read.Count == 0)
                {
                    await context.Response.Body.WriteAsync(": heartbeat\n\n"u8.ToArray(), ct);
                    await context.Response.Body.FlushAsync(ct);
                    continue;
                }

                after = await WriteAsync(context.Response, read[0].Entries, ct);
            }
        }
        catch (Exception ex) when (ct.IsCancellationRequested || ex is RedisConnectionException or ObjectDisposedException)
        {
            // The client left, or Redis went away: the client reconnects with its Last-Event-ID and misses nothing.
        }
    }

    private static async Task<string> WriteAsync(HttpResponse response, IReadOnlyList<RedisStreamEntry> entries, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        foreach (var entry in entries)
        {
            buffer.Write("id: "u8);
            Encoding.UTF8.GetBytes(entry.Id, buffer);
            buffer.Write("\nevent: "u8);
            buffer.Write(entry[ChatEvents.TypeField].Span);
            buffer.Write("\ndata: "u8);
            buffer.Write(entry[ChatEvents.DataField].Span);
            buffer.Write("\n\n"u8);
        }

        await response.Body.WriteAsync(buffer.WrittenMemory, ct);
        await response.Body.FlushAsync(ct);
        return entries[^1].Id;
    }

    private static string? BearerToken(HttpContext context)
    {
        string? header = context.Request.Headers.Authorization;
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    private static bool IsStreamId(string id)
    {
        var dash = id.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && ulong.TryParse(id.AsSpan(0, dash), out _) && ulong.TryParse(id.AsSpan(dash + 1), out _);
    }
}
