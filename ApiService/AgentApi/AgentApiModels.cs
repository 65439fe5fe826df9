using System.Text.Json.Serialization;

namespace Hangar.ApiService.AgentApi;

/// <summary>A page of the key-value store; <c>cursor</c> is present only when more may follow.</summary>
public sealed record KvListing(
    [property: JsonPropertyName("entries")] List<KvEntry> Entries,
    [property: JsonPropertyName("cursor"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Cursor);

/// <summary>Blink's answer to a chat upsert (compatibility version 3).</summary>
public sealed record UpsertedChat(
    [property: JsonPropertyName("id")] Guid Id,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("created")] bool Created);

/// <summary>Blink's answer to a chat look-up.</summary>
public sealed record AgentChat(
    [property: JsonPropertyName("id")] Guid Id,
    [property: JsonPropertyName("createdAt")] DateTimeOffset CreatedAt);

public sealed record DeleteMessagesRequest(List<string>? MessageIds);

/// <summary>The agent API's answers carry Blink's exact field names, whatever the rest of the API uses.</summary>
[JsonSerializable(typeof(KvListing))]
[JsonSerializable(typeof(UpsertedChat))]
[JsonSerializable(typeof(AgentChat))]
internal sealed partial class AgentApiJsonContext : JsonSerializerContext;
