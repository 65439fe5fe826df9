using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hangar.ApiService.Agents;

public sealed record Agent(
    Guid Id, Guid OrganizationId, string Name, string? Description, Guid? ActiveDeploymentId, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record CreateAgentRequest(string? Name, string? Description);

public sealed record UpdateAgentRequest(string? Name, string? Description, Guid? ActiveDeploymentId);

/// <summary>
/// A deployment. <c>url</c> is where Hangar calls it: given for <c>external</c> ones, set by the Deployer once a
/// <c>docker</c> or <c>process</c> one is healthy. <c>token</c> (an external deployment's first token) is in the
/// answer that creates it and nowhere else.
/// </summary>
public sealed record Deployment(
    Guid Id, Guid AgentId, int Number, string Runtime, string Target, string Status, string? Url, string? Entrypoint, string? BundleHash,
    int RestartCount, string? Error, Guid? RedeployedFrom, DateTimeOffset? ReadyAt, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Token = null);

/// <summary>A deployment token as listed: never the secret, only its first characters.</summary>
public sealed record DeploymentToken(
    Guid Id, Guid DeploymentId, string Prefix, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Token = null);

/// <summary>
/// The JSON form of a new deployment: <c>external</c> with a <c>url</c>, or <c>docker</c>/<c>process</c> with the
/// bundle as <c>files</c> and an <c>entrypoint</c>. <c>environment</c> overrides the agent's variables for this deployment.
/// </summary>
public sealed record CreateDeploymentRequest(
    string? Runtime, string? Url, string? Target, bool? Activate, JsonElement? Environment, string? Entrypoint, List<BundleFileRequest>? Files);

/// <summary>One file of a JSON upload: text <c>content</c>, or <c>content_base64</c>, or a <c>link_target</c> inside the bundle.</summary>
public sealed record BundleFileRequest(string? Path, string? Content, string? ContentBase64, bool? Executable, string? LinkTarget);

/// <summary>Redeploying makes a new deployment from an older one's bundle; the target defaults to the older one's.</summary>
public sealed record RedeployRequest(string? Target);
