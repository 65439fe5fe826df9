using System.Security.Claims;
using System.Text.Json;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Chats;
using Hangar.ApiService.Data;
using Hangar.ApiService.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Hangar.ApiService.AgentApi;

/// <summary>
/// <c>/api/agents/me/*</c>: what an agent calls back into, with its deployment or invocation token. The routes and
/// answers are Blink's (the upstream side of its runtime wrapper, shared/protocol/blink §4), so Blink's own wrapper
/// works against Hangar as well as ours. Every chat is looked up within the calling agent: another agent's is 404.
/// </summary>
public static class AgentMeApi
{
    /// <summary>Longest chat key, in characters (Blink's limit).</summary>
    public const int MaxChatKeyLength = 128;

    public static RouteGroupBuilder MapAgentMeApi(this IEndpointRouteBuilder app)
    {
        var me = app.MapGroup("/api/agents/me").WithTags("Agent API")
            .RequireAuthorization(policy => policy.AddAuthenticationSchemes(AgentTokenAuthenticationHandler.SchemeName).RequireAuthenticatedUser());
        me.MapGet("/storage", ListValues);
        me.MapGet("/storage/{key}", GetValue);
        me.MapPut("/storage/{key}", SetValue);
        me.MapDelete("/storage/{key}", DeleteValue);
        me.MapPut("/chats/{key}", UpsertChat);
        me.MapGet("/chats/{id}", GetChat);
        me.MapDelete("/chats/{id}", DeleteChat);
        me.MapGet("/chats/{id}/messages", ListMessages);
        me.MapPost("/chats/{id}/messages", SendMessages);
        me.MapPost("/chats/{id}/messages/delete", DeleteMessages);
        me.MapPost("/chats/{id}/start", StartChat);
        me.MapPost("/chats/{id}/stop", StopChat);
        return me;
    }

    internal static async Task<IResult> GetValue(HttpContext context, AgentStore store, CancellationToken ct)
    {
        if (KeyProblem(context, out var key) is { } problem)
        {
            return problem;
        }

        var value = await store.GetAsync(AgentCaller.From(context.User), key, ct);
        return value is null ? TypedResults.NotFound() : TypedResults.Bytes(value, "application/octet-stream");
    }

    internal static async Task<IResult> SetValue(HttpContext context, AgentStore store, [FromQuery] int? ttl, CancellationToken ct)
    {
        if (KeyProblem(context, out var key) is { } problem)
        {
            return problem;
        }

        if (ttl is <= 0)
        {
            return Invalid("ttl", "Must be a positive number of seconds.");
        }

        ReadOnlyMemory<byte>? value;
        try
        {
            value = await RequestBodies.ReadBoundedAsync(context.Request, AgentStore.MaxValueBytes, ct);
        }
        catch (InvalidDataException)
        {
            return Invalid("value", "The gzip-encoded body is corrupt.");
        }

        if (value is null)
        {
            return TypedResults.Problem(
                title: "The value is too large.", detail: $"Values are at most {AgentStore.MaxValueBytes} bytes.", statusCode: StatusCodes.Status413PayloadTooLarge);
        }

        await store.SetAsync(AgentCaller.From(context.User), key, value.Value.ToArray(), ttl is { } seconds ? TimeSpan.FromSeconds(seconds) : null, ct);
        return TypedResults.NoContent();
    }

    internal static async Task<IResult> DeleteValue(HttpContext context, AgentStore store, CancellationToken ct)
    {
        if (KeyProblem(context, out var key) is { } problem)
        {
            return problem;
        }

        await store.DeleteAsync(AgentCaller.From(context.User), key, ct);
        return TypedResults.NoContent();
    }

    /// <summary><c>{"entries": [{"key", "value"}], "cursor"?}</c>. Some SDK versions send a body with this GET; it is ignored.</summary>
    internal static async Task<IResult> ListValues(
        ClaimsPrincipal user, AgentStore store, [FromQuery] string? prefix, [FromQuery] int? limit, [FromQuery] string? cursor, CancellationToken ct)
    {
        if (limit is < 1 or > AgentStore.MaxListLimit)
        {
            return Invalid("limit", $"Must be between 1 and {AgentStore.MaxListLimit}.");
        }

        if (!AgentStore.TryDecodeCursor(cursor, out var after))
        {
            return Invalid("cursor", "Not a cursor this API returned.");
        }

        var (entries, next) = await store.ListAsync(AgentCaller.From(user), prefix ?? string.Empty, limit ?? AgentStore.DefaultListLimit, after, ct);
        return Results.Json(new KvListing(entries, next), AgentApiJsonContext.Default.KvListing);
    }

    /// <summary>Creates the agent's chat with this key or finds it: <c>{"id", "created_at", "created"}</c>. The key is stored exactly as received.</summary>
    internal static async Task<IResult> UpsertChat(HttpContext context, NpgsqlDataSource db, CancellationToken ct)
    {
        var key = RawSegment(context, "key");
        if (key.Length is 0 or > MaxChatKeyLength)
        {
            return Invalid("key", $"A chat key is 1 to {MaxChatKeyLength} characters.");
        }

        var caller = AgentCaller.From(context.User);
        await using var command = db.CreateCommand("""
            with inserted as (insert into chats (id, organization_id, agent_id, agent_key) values (@id, @org, @agent, @key)
                              on conflict (agent_id, agent_key) do nothing returning id, created_at)
            select id, created_at, true from inserted
            union all select id, created_at, false from chats where agent_id = @agent and agent_key = @key and not exists (select 1 from inserted)
            """).With("id", Guid.CreateVersion7()).With("org", caller.OrganizationId).With("agent", caller.AgentId).With("key", key);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return Results.Json(new UpsertedChat(reader.GetGuid(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetBoolean(2)), AgentApiJsonContext.Default.UpsertedChat);
    }

    internal static async Task<IResult> GetChat(HttpContext context, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand("select id, created_at from chats where agent_id = @agent and " + ChatMatch)
            .With("agent", AgentCaller.From(context.User).AgentId).WithChatReference(RawSegment(context, "id"));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? Results.Json(new AgentChat(reader.GetGuid(0), reader.GetFieldValue<DateTimeOffset>(1)), AgentApiJsonContext.Default.AgentChat)
            : ChatNotFound();
    }

    internal static async Task<IResult> DeleteChat(HttpContext context, NpgsqlDataSource db, ChatService chats, CancellationToken ct) =>
        await FindChatAsync(context, db, ct) is { } chat && await chats.DeleteAsync(chat.OrganizationId, chat.Id, ct) ? TypedResults.NoContent() : ChatNotFound();

    /// <summary>The chat's messages as UIMessages (<c>id, role, parts, metadata</c>), oldest first, at most the last 1,000.</summary>
    internal static async Task<IResult> ListMessages(HttpContext context, NpgsqlDataSource db, CancellationToken ct)
    {
        if (await FindChatAsync(context, db, ct) is not { } chat)
        {
            return ChatNotFound();
        }

        await using var command = db.CreateCommand("""
            select id, role, parts::text, metadata::text from (
                select id, role, parts, metadata, created_at, seq from messages where chat_id = @chat order by created_at desc, seq desc limit 1000
            ) last order by created_at, seq
            """).With("chat", chat.Id);
        var body = new System.Buffers.ArrayBufferWriter<byte>(4096);
        await using (var json = new Utf8JsonWriter(body))
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            json.WriteStartArray();
            while (await reader.ReadAsync(ct))
            {
                json.WriteStartObject();
                json.WriteString("id", reader.GetString(0));
                json.WriteString("role", reader.GetString(1));
                json.WritePropertyName("parts");
                json.WriteRawValue(reader.GetString(2), skipInputValidation: true);
                json.WritePropertyName("metadata");
                if (reader.IsDBNull(3))
                {
                    json.WriteNullValue();
                }
                else
                {
                    json.WriteRawValue(reader.GetString(3), skipInputValidation: true);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return TypedResults.Bytes(body.WrittenMemory.ToArray(), "application/json");
    }

    /// <summary><c>{"messages": [...], "behavior": "enqueue" | "interrupt" | "append"}</c>: the same control loop as the public API.</summary>
    internal static async Task<IResult> SendMessages(HttpContext context, SendMessagesRequest request, NpgsqlDataSource db, ChatService chats, CancellationToken ct)
    {
        var validation = chats.Validate(request.Messages, request.Behavior, required: true);
        if (!validation.IsValid)
        {
            return TypedResults.ValidationProblem(validation.Errors);
        }

        if (await FindChatAsync(context, db, ct) is not { } chat)
        {
            return ChatNotFound();
        }

        ChatService.TryParseBehavior(request.Behavior, out var behavior);
        return await chats.SendAsync(chat.OrganizationId, chat.Id, request.Messages!, behavior, ct) is null ? ChatNotFound() : TypedResults.NoContent();
    }

    /// <summary><c>{"message_ids": [...]}</c>: deletes those messages of the chat.</summary>
    internal static async Task<IResult> DeleteMessages(HttpContext context, DeleteMessagesRequest request, NpgsqlDataSource db, CancellationToken ct)
    {
        if (request.MessageIds is not { Count: > 0 and <= 1000 } ids)
        {
            return Invalid("message_ids", "Required: an array of 1 to 1,000 message ids.");
        }

        if (await FindChatAsync(context, db, ct) is not { } chat)
        {
            return ChatNotFound();
        }

        await using var command = db.CreateCommand("delete from messages where chat_id = @chat and id = any(@ids)").With("chat", chat.Id).With("ids", ids.ToArray());
        await command.ExecuteNonQueryAsync(ct);
        return TypedResults.NoContent();
    }

    /// <summary>Starts a run on the chat's history, or leaves the one that waits.</summary>
    internal static async Task<IResult> StartChat(HttpContext context, NpgsqlDataSource db, ChatService chats, CancellationToken ct) =>
        await FindChatAsync(context, db, ct) is { } chat && await chats.SendAsync(chat.OrganizationId, chat.Id, [], SendBehavior.Enqueue, ct) is not null
            ? TypedResults.NoContent()
            : ChatNotFound();

    internal static async Task<IResult> StopChat(HttpContext context, NpgsqlDataSource db, ChatService chats, CancellationToken ct) =>
        await FindChatAsync(context, db, ct) is { } chat && await chats.StopAsync(chat.OrganizationId, chat.Id, ct) ? TypedResults.NoContent() : ChatNotFound();

    /// <summary>A chat is named by its id or by the key the agent upserted it with.</summary>
    private const string ChatMatch = "(id = @chatId or (@chatId is null and agent_key = @chatKey))";

    private static NpgsqlCommand WithChatReference(this NpgsqlCommand command, string reference) =>
        command.With("chatId", Guid.TryParse(reference, out var id) ? id : DBNull.Value).With("chatKey", reference);

    private static async Task<(Guid Id, Guid OrganizationId)?> FindChatAsync(HttpContext context, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand("select id, organization_id from chats where agent_id = @agent and " + ChatMatch)
            .With("agent", AgentCaller.From(context.User).AgentId).WithChatReference(RawSegment(context, "id"));
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (reader.GetGuid(0), reader.GetGuid(1)) : null;
    }

    /// <summary>
    /// A route value exactly as the client encoded it: ASP.NET Core leaves <c>%2F</c> undecoded in route values, so
    /// the segment is taken from the raw request target and unescaped here.
    /// </summary>
    private static string RawSegment(HttpContext context, string name)
    {
        var value = (string)context.GetRouteValue(name)!;
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }

        var raw = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        var path = raw.Split('?', 2)[0].Split('/');
        var routePath = context.Request.Path.Value!.Split('/');
        var index = Array.IndexOf(routePath, value);
        return index >= 0 && index < path.Length ? Uri.UnescapeDataString(path[index]) : value;
    }

    private static IResult? KeyProblem(HttpContext context, out string key)
    {
        key = RawSegment(context, "key");
        return key.Length is 0 or > AgentStore.MaxKeyLength ? Invalid("key", $"A key is 1 to {AgentStore.MaxKeyLength} characters.") : null;
    }

    private static IResult Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });

    private static IResult ChatNotFound() =>
        TypedResults.Problem(title: "Chat not found.", detail: "This agent has no chat with that id or key.", statusCode: StatusCodes.Status404NotFound);
}
