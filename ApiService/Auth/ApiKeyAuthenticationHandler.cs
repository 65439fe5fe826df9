using System.Security.Claims;
using System.Text.Encodings.Web;
using Hangar.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Hangar.ApiService.Auth;

/// <summary><c>Authorization: Bearer &lt;api key&gt;</c>, looked up by its SHA-256 and cached briefly (<see cref="CredentialCache"/>).</summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, NpgsqlDataSource db, TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    private static readonly CredentialCache Cache = new(TimeSpan.FromSeconds(10));

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        // An agent's deployment or invocation token is not a key, and not worth a look-up.
        if (CredentialCache.BearerCredential(Request) is not { } key
            || key.StartsWith(DeploymentTokens.Prefix, StringComparison.Ordinal) || key.Contains('.', StringComparison.Ordinal))
        {
            return AuthenticateResult.NoResult();
        }

        return await Cache.GetOrLookUpAsync(key, time.GetUtcNow(), LookUpAsync) is { } principal
            ? AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName))
            : AuthenticateResult.Fail("The API key is not valid.");
    }

    private async Task<ClaimsPrincipal?> LookUpAsync(string key)
    {
        await using var command = db.CreateCommand(
            "update api_keys set last_used_at = now() where key_hash = @hash and revoked_at is null returning organization_id, user_id");
        command.Parameters.AddWithValue("hash", ApiKeys.Hash(key));
        await using var reader = await command.ExecuteReaderAsync(Context.RequestAborted);
        if (!await reader.ReadAsync(Context.RequestAborted))
        {
            return null;
        }

        var claims = new List<Claim> { new(HangarClaims.OrganizationId, reader.GetGuid(0).ToString()) };
        if (!reader.IsDBNull(1))
        {
            claims.Add(new Claim(HangarClaims.UserId, reader.GetGuid(1).ToString()));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
    }
}

internal static class HangarClaims
{
    public const string OrganizationId = "hangar:org";
    public const string UserId = "hangar:user";

    public static Guid GetOrganizationId(this ClaimsPrincipal principal) => Guid.Parse(principal.FindFirstValue(OrganizationId)!);

    public static Guid? UserIdOrNull(this ClaimsPrincipal principal) =>
        principal.FindFirstValue(UserId) is { } id ? Guid.Parse(id) : null;
}
