using System.Text.Json.Serialization;

namespace Hangar.Contracts;

/// <summary>Lets the bearer read one chat's event stream until it expires. ApiService issues it; StreamHub checks it.</summary>
public sealed record StreamTicket
{
    public const string Purpose = "hangar.stream-ticket.v1";

    [JsonPropertyName("chat")]
    public required Guid ChatId { get; init; }

    [JsonPropertyName("org")]
    public required Guid OrganizationId { get; init; }

    [JsonPropertyName("exp")]
    public required long ExpiresAtUnixSeconds { get; init; }

    public bool IsValidFor(Guid chatId, DateTimeOffset now) => chatId == ChatId && now.ToUnixTimeSeconds() < ExpiresAtUnixSeconds;
}

/// <summary>Sent to the agent with each step (<c>x-blink-invocation-token</c>): scoped to one agent, chat, run and step.</summary>
public sealed record InvocationToken
{
    public const string Purpose = "hangar.invocation-token.v1";

    [JsonPropertyName("org")]
    public required Guid OrganizationId { get; init; }

    [JsonPropertyName("agent")]
    public required Guid AgentId { get; init; }

    /// <summary>The deployment called; null when the agent had no active deployment.</summary>
    [JsonPropertyName("dep")]
    public Guid? DeploymentId { get; init; }

    /// <summary>The deployment's target (<c>production</c> or <c>preview</c>): it picks the agent's key-value store.</summary>
    [JsonPropertyName("target")]
    public required string Target { get; init; }

    [JsonPropertyName("chat")]
    public required Guid ChatId { get; init; }

    [JsonPropertyName("run")]
    public required Guid RunId { get; init; }

    [JsonPropertyName("step")]
    public required Guid StepId { get; init; }

    [JsonPropertyName("exp")]
    public required long ExpiresAtUnixSeconds { get; init; }
}

[JsonSerializable(typeof(StreamTicket))]
[JsonSerializable(typeof(InvocationToken))]
public sealed partial class ContractsJsonContext : JsonSerializerContext;
