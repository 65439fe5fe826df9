using System.Text.Json;

namespace Hangar.ApiService.Agents;

public sealed record Agent(
    Guid Id, Guid OrganizationId, string Name, string? Description, Guid? ActiveDeploymentId, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record CreateAgentRequest(string? Name, string? Description);

public sealed record UpdateAgentRequest(string? Name, string? Description, Guid? ActiveDeploymentId);

public sealed record Deployment(
    Guid Id, Guid AgentId, int Number, string Runtime, string Target, string Status, string? Url, string? Error,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>Only <c>external</c> deployments exist so far: the agent runs wherever its owner runs it, at <c>url</c>.</summary>
public sealed record CreateDeploymentRequest(string? Runtime, string? Url, string? Target, bool? Activate, JsonElement? Environment);
