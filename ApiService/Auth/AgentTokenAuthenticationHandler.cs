using System.Security.Claims;
using System.Text.Encodings.Web;
using Hangar.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Hangar.ApiService.Auth;

/// <summary>
/// The credentials of agents, for <c>/api/agents/me/*</c> and the OTLP ingest only: a deployment token
/// (<c>hgd_…</c>, long-lived, revocable, looked up by its SHA-256) or the invocation token sent with a step (signed,
/// short-lived, scoped to one chat, run and step). Either way the caller is one agent and one deployment target.
/// A revoked deployment token stops working within the few seconds a successful look-up is cached (<see cref="CredentialCache"/>).
/// </summary>
internal sealed class AgentTokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, NpgsqlDataSource db, TokenSigner signer, TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "AgentToken";

    private static readonly CredentialCache Cache = new(TimeSpan.FromSeconds(10));

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (CredentialCache.BearerCredential(Request) is not { } token)
        {
            return AuthenticateResult.NoResult();
        }

        var now = time.GetUtcNow();
        if (token.StartsWith(DeploymentTokens.Prefix, StringComparison.Ordinal))
        {
            return await Cache.GetOrLookUpAsync(token, now, LookUpDeploymentTokenAsync) is { } principal
                ? Success(principal)
                : AuthenticateResult.Fail("The deployment token is not valid or was revoked.");
        }

        if (!signer.TryVerify(InvocationToken.Purpose, token, ContractsJsonContext.Default.InvocationToken, out var invocation) || invocation is null)
        {
            return AuthenticateResult.Fail("The token is neither a deployment token nor a valid invocation token.");
        }

        if (invocation.ExpiresAtUnixSeconds <= now.ToUnixTimeSeconds())
        {
            return AuthenticateResult.Fail("The invocation token has expired.");
        }

        return Success(AgentCaller.ToPrincipal(new AgentCaller(
            invocation.OrganizationId, invocation.AgentId, invocation.DeploymentId, invocation.Target, invocation.ChatId, invocation.RunId, invocation.StepId), SchemeName));
    }

    private async Task<ClaimsPrincipal?> LookUpDeploymentTokenAsync(string token)
    {
        await using var command = db.CreateCommand("""
            update deployment_tokens t set last_used_at = now()
            from deployments d
            where t.token_hash = @hash and t.revoked_at is null and d.id = t.deployment_id
            returning t.organization_id, t.agent_id, t.deployment_id, d.target
            """);
        command.Parameters.AddWithValue("hash", DeploymentTokens.Hash(token));
        await using var reader = await command.ExecuteReaderAsync(Context.RequestAborted);
        if (!await reader.ReadAsync(Context.RequestAborted))
        {
            return null;
        }

        return AgentCaller.ToPrincipal(new AgentCaller(reader.GetGuid(0), reader.GetGuid(1), reader.GetGuid(2), reader.GetString(3), null, null, null), SchemeName);
    }

    private AuthenticateResult Success(ClaimsPrincipal principal) => AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
}

/// <summary>Who an agent token speaks for: one agent and deployment target, and with an invocation token one step.</summary>
internal sealed record AgentCaller(Guid OrganizationId, Guid AgentId, Guid? DeploymentId, string Target, Guid? ChatId, Guid? RunId, Guid? StepId)
{
    private const string AgentClaim = "hangar:agent";
    private const string DeploymentClaim = "hangar:deployment";
    private const string TargetClaim = "hangar:target";
    private const string ChatClaim = "hangar:chat";
    private const string RunClaim = "hangar:run";
    private const string StepClaim = "hangar:step";

    public static ClaimsPrincipal ToPrincipal(AgentCaller caller, string scheme)
    {
        var claims = new List<Claim>
        {
            new(HangarClaims.OrganizationId, caller.OrganizationId.ToString()),
            new(AgentClaim, caller.AgentId.ToString()),
            new(TargetClaim, caller.Target),
        };
        void Add(string type, Guid? value)
        {
            if (value is { } v)
            {
                claims.Add(new Claim(type, v.ToString()));
            }
        }

        Add(DeploymentClaim, caller.DeploymentId);
        Add(ChatClaim, caller.ChatId);
        Add(RunClaim, caller.RunId);
        Add(StepClaim, caller.StepId);
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme));
    }

    public static AgentCaller From(ClaimsPrincipal principal)
    {
        Guid? Get(string type) => principal.FindFirstValue(type) is { } v ? Guid.Parse(v) : null;
        return new AgentCaller(principal.GetOrganizationId(), Get(AgentClaim)!.Value, Get(DeploymentClaim), principal.FindFirstValue(TargetClaim)!, Get(ChatClaim), Get(RunClaim), Get(StepClaim));
    }
}
