using System.Text.Json;

namespace Hangar.ApiService.Chats;

public sealed record Chat(
    Guid Id, Guid OrganizationId, Guid AgentId, string? Title, string Status, string? Error, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>A stored UIMessage (AI SDK v5): <c>parts</c> and <c>metadata</c> exactly as received or folded.</summary>
public sealed record Message(
    string Id, Guid ChatId, string Role, JsonElement Parts, JsonElement? Metadata, Guid? RunId, Guid? StepId, DateTimeOffset CreatedAt)
{
    public string Format => "ai-sdk";
}

public sealed record NewMessage(string? Id, string? Role, JsonElement? Parts, JsonElement? Metadata);

public sealed record CreateChatRequest(Guid? AgentId, string? Title, List<NewMessage>? Messages, string? Behavior);

public sealed record SendMessagesRequest(List<NewMessage>? Messages, string? Behavior);

/// <summary>Where to watch the chat: StreamHub's URL with a ticket, and the event id to resume after.</summary>
public sealed record StreamLocation(string Url, string Ticket, string LastEventId, DateTimeOffset ExpiresAt);

public sealed record SendMessagesResponse(List<Message> Messages, Runs.Run? Run, StreamLocation Stream);

public sealed record ChatCreatedResponse(Chat Chat, List<Message> Messages, Runs.Run? Run, StreamLocation Stream);

public sealed record Page<T>(List<T> Items, string? NextCursor);
