using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hangar.ApiService.Agents;

public sealed record Agent(
    Guid Id, Guid OrganizationId, string Name, string? Description, Guid? ActiveDeploymentId, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record CreateAgentRequest(string? Name, string? Description);

public sealed record UpdateAgentRequest(string? Name, string? Description, Guid? ActiveDeploymentId);

/// <summary>A deployment; <c>token</c> (its first deployment token) is in the answer that creates it and nowhere else.</summary>
public sealed record Deployment(
    Guid Id, Guid AgentId, int Number, string Runtime, string Target, string Status, string? Url, string? Error,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Token = null);

/// <summary>A deployment token as listed: never the secret, only its first characters.</summary>
public sealed record DeploymentToken(
    Guid Id, Guid DeploymentId, string Prefix, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Token = null);

/// <summary>Only <c>external</c> deployments exist so far: the agent runs wherever its owner runs it, at <c>url</c>.</summary>
public sealed record CreateDeploymentRequest(string? Runtime, string? Url, string? Target, bool? Activate, JsonElement? Environment);
