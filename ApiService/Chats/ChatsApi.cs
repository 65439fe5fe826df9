using System.Security.Claims;
using Hangar.ApiService.Agents;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Data;
using Hangar.ApiService.Events;
using Hangar.ApiService.Http;
using Hangar.Contracts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Hangar.ApiService.Chats;

public static class ChatsApi
{
    public static RouteGroupBuilder MapChatsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/chats").WithTags("Chats").RequireAuthorization();
        api.MapPost("/", CreateChat);
        api.MapGet("/", ListChats);
        api.MapGet("/{chatId:guid}", GetChat);
        api.MapDelete("/{chatId:guid}", DeleteChat);
        api.MapPost("/{chatId:guid}/messages", SendMessages);
        api.MapGet("/{chatId:guid}/messages", ListMessages);
        api.MapGet("/{chatId:guid}/messages/{messageId}", GetMessage);
        api.MapPost("/{chatId:guid}/stop", StopChat);
        api.MapGet("/{chatId:guid}/stream", GetStream);
        return api;
    }

    internal sealed record Services(NpgsqlDataSource Db, ChatService Chats, StreamTickets Tickets, ChatEventPublisher Events);

    internal static async Task<Results<Created<ChatCreatedResponse>, ValidationProblem, NotFound<ProblemDetails>, Conflict<ProblemDetails>>> CreateChat(
        CreateChatRequest request, ClaimsPrincipal user, [AsParameters] Services services, CancellationToken ct)
    {
        var validation = services.Chats.Validate(request.Messages, request.Behavior, required: false)
            .Require(request.AgentId is not null, "agent_id", "Required.")
            .Require(request.Title is null || request.Title.Length <= 200, "title", "At most 200 characters.");
        if (!validation.IsValid)
        {
            return TypedResults.ValidationProblem(validation.Errors);
        }

        var org = user.GetOrganizationId();
        if (!await AgentsApi.AgentExistsAsync(services.Db, request.AgentId!.Value, org, ct))
        {
            return TypedResults.NotFound(new ProblemDetails { Title = "Agent not found.", Detail = $"No agent {request.AgentId} in this organisation.", Status = 404 });
        }

        await using var command = services.Db.CreateCommand($"insert into chats (id, organization_id, agent_id, title) values (@id, @org, @agent, @title) returning {ChatStore.ChatColumns}")
            .With("id", Guid.CreateVersion7()).With("org", org).With("agent", request.AgentId).With("title", request.Title);
        var chat = (await ChatStore.SingleAsync(command, ChatStore.ReadChat, ct))!;
        services.Events.Publish(chat.Id, ChatEvents.ChatUpdated, chat, ChatEventPublisher.Json<Chat>());

        if (request.Messages is not { Count: > 0 } messages)
        {
            return TypedResults.Created($"/api/chats/{chat.Id}", new ChatCreatedResponse(chat, [], null, services.Tickets.Issue(org, chat.Id, "0-0")));
        }

        ChatService.TryParseBehavior(request.Behavior, out var behavior);
        var (result, conflict) = await SendOrConflictAsync(services, org, chat.Id, messages, behavior, ct);
        if (conflict is not null)
        {
            return conflict;
        }

        var current = await ChatStore.GetChatAsync(services.Db, org, chat.Id, ct) ?? chat;
        return TypedResults.Created($"/api/chats/{chat.Id}", new ChatCreatedResponse(current, result!.Messages, result.Run, services.Tickets.Issue(org, chat.Id, result.LastEventId)));
    }

    internal static async Task<Results<Ok<Page<Chat>>, ValidationProblem>> ListChats(
        ClaimsPrincipal user, NpgsqlDataSource db, [FromQuery(Name = "agent_id")] Guid? agentId, string? cursor, int? limit, CancellationToken ct)
    {
        var size = limit ?? 50;
        var position = ChatCursor.TryParse(cursor);
        var validation = new Validation()
            .Require(size is >= 1 and <= 200, "limit", "Must be between 1 and 200.")
            .Require(cursor is null || position is not null, "cursor", "Not a cursor this API returned.");
        if (!validation.IsValid)
        {
            return TypedResults.ValidationProblem(validation.Errors);
        }

        // Newest first, keyset on (created_at, id): UUID v7 alone is not ordered within one millisecond.
        await using var command = db.CreateCommand($"""
            select {ChatStore.ChatColumns} from chats
            where organization_id = @org and (@agent::uuid is null or agent_id = @agent)
              and (@at::timestamptz is null or (created_at, id) < (@at, @id))
            order by created_at desc, id desc limit @limit
            """).With("org", user.GetOrganizationId()).With("agent", agentId).With("at", position?.CreatedAt).With("id", position?.Id ?? Guid.Empty).With("limit", size + 1);
        var chats = await ChatStore.ListAsync(command, ChatStore.ReadChat, ct);
        var next = chats.Count > size ? ChatCursor.Format(chats[size - 1]) : null;
        return TypedResults.Ok(new Page<Chat>(chats.Take(size).ToList(), next));
    }

    internal static async Task<Results<Ok<Chat>, NotFound>> GetChat(Guid chatId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct) =>
        await ChatStore.GetChatAsync(db, user.GetOrganizationId(), chatId, ct) is { } chat ? TypedResults.Ok(chat) : TypedResults.NotFound();

    internal static async Task<Results<NoContent, NotFound>> DeleteChat(Guid chatId, ClaimsPrincipal user, ChatService chats, CancellationToken ct) =>
        await chats.DeleteAsync(user.GetOrganizationId(), chatId, ct) ? TypedResults.NoContent() : TypedResults.NotFound();

    internal static async Task<Results<Ok<SendMessagesResponse>, ValidationProblem, NotFound, Conflict<ProblemDetails>>> SendMessages(
        Guid chatId, SendMessagesRequest request, ClaimsPrincipal user, [AsParameters] Services services, CancellationToken ct)
    {
        var validation = services.Chats.Validate(request.Messages, request.Behavior, required: true);
        if (!validation.IsValid)
        {
            return TypedResults.ValidationProblem(validation.Errors);
        }

        ChatService.TryParseBehavior(request.Behavior, out var behavior);
        var org = user.GetOrganizationId();
        var (sent, conflict) = await SendOrConflictAsync(services, org, chatId, request.Messages!, behavior, ct);
        if (conflict is not null)
        {
            return conflict;
        }

        return sent is null
            ? TypedResults.NotFound()
            : TypedResults.Ok(new SendMessagesResponse(sent.Messages, sent.Run, services.Tickets.Issue(org, chatId, sent.LastEventId)));
    }

    internal static async Task<Results<Ok<List<Message>>, NotFound>> ListMessages(Guid chatId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        var org = user.GetOrganizationId();
        await using var command = db.CreateCommand($"select {ChatStore.MessageColumns} from messages where chat_id = @chat and exists (select 1 from chats where id = @chat and organization_id = @org) order by created_at, seq")
            .With("chat", chatId).With("org", org);
        var messages = await ChatStore.ListAsync(command, r => ChatStore.ReadMessage(r), ct);
        return messages.Count == 0 && await ChatStore.GetChatAsync(db, org, chatId, ct) is null ? TypedResults.NotFound() : TypedResults.Ok(messages);
    }

    internal static async Task<Results<Ok<Message>, NotFound>> GetMessage(Guid chatId, string messageId, ClaimsPrincipal user, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"select {ChatStore.MessageColumns} from messages where chat_id = @chat and id = @id and exists (select 1 from chats where id = @chat and organization_id = @org)")
            .With("chat", chatId).With("id", messageId).With("org", user.GetOrganizationId());
        return await ChatStore.SingleAsync(command, r => ChatStore.ReadMessage(r), ct) is { } message ? TypedResults.Ok(message) : TypedResults.NotFound();
    }

    internal static async Task<Results<Accepted<Chat>, NotFound>> StopChat(Guid chatId, ClaimsPrincipal user, NpgsqlDataSource db, ChatService chats, CancellationToken ct)
    {
        var org = user.GetOrganizationId();
        if (!await chats.StopAsync(org, chatId, ct))
        {
            return TypedResults.NotFound();
        }

        return TypedResults.Accepted($"/api/chats/{chatId}", await ChatStore.GetChatAsync(db, org, chatId, ct));
    }

    /// <summary>A fresh ticket to watch the chat, resuming after the newest event.</summary>
    internal static async Task<Results<Ok<StreamLocation>, NotFound>> GetStream(Guid chatId, ClaimsPrincipal user, [AsParameters] Services services, CancellationToken ct)
    {
        var org = user.GetOrganizationId();
        if (await ChatStore.GetChatAsync(services.Db, org, chatId, ct) is null)
        {
            return TypedResults.NotFound();
        }

        return TypedResults.Ok(services.Tickets.Issue(org, chatId, await services.Events.LastEventIdAsync(chatId)));
    }

    /// <summary>Sends, or explains the conflict when a message id is taken (the transaction stored nothing then).</summary>
    private static async Task<(SendResult? Sent, Conflict<ProblemDetails>? Conflict)> SendOrConflictAsync(
        Services services, Guid org, Guid chatId, List<NewMessage> messages, SendBehavior behavior, CancellationToken ct)
    {
        try
        {
            return (await services.Chats.SendAsync(org, chatId, messages, behavior, ct), null);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.ConstraintName == "messages_pkey")
        {
            return (null, TypedResults.Conflict(new ProblemDetails { Title = "Message id in use.", Detail = "The chat already has a message with one of these ids; nothing was stored.", Status = 409 }));
        }
    }
}
