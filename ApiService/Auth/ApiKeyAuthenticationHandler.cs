using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Hangar.ApiService.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;api key&gt;</c>. Successful look-ups are cached for a few seconds so the hot path
/// (sending messages, reading runs) does not pay a query per request; a revoked key stops working within that time.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, NpgsqlDataSource db, TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(10);
    private static readonly ConcurrentDictionary<string, (ClaimsPrincipal Principal, DateTimeOffset Until)> Cache = new(StringComparer.Ordinal);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }

        var key = header["Bearer ".Length..].Trim();
        if (key.StartsWith(DeploymentTokens.Prefix, StringComparison.Ordinal) || key.Contains('.', StringComparison.Ordinal))
        {
            // An agent's deployment or invocation token: not a key, and not worth a look-up.
            return AuthenticateResult.NoResult();
        }

        var now = time.GetUtcNow();
        if (Cache.TryGetValue(key, out var cached) && cached.Until > now)
        {
            return Success(cached.Principal);
        }

        await using var command = db.CreateCommand(
            "update api_keys set last_used_at = now() where key_hash = @hash and revoked_at is null returning organization_id, user_id");
        command.Parameters.AddWithValue("hash", ApiKeys.Hash(key));
        await using var reader = await command.ExecuteReaderAsync(Context.RequestAborted);
        if (!await reader.ReadAsync(Context.RequestAborted))
        {
            return AuthenticateResult.Fail("The API key is not valid.");
        }

        var claims = new List<Claim> { new(HangarClaims.OrganizationId, reader.GetGuid(0).ToString()) };
        if (!reader.IsDBNull(1))
        {
            claims.Add(new Claim(HangarClaims.UserId, reader.GetGuid(1).ToString()));
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        Cache[key] = (principal, now + CacheFor);
        return Success(principal);
    }

    private AuthenticateResult Success(ClaimsPrincipal principal) => AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
}

internal static class HangarClaims
{
    public const string OrganizationId = "hangar:org";
    public const string UserId = "hangar:user";

    public static Guid GetOrganizationId(this ClaimsPrincipal principal) => Guid.Parse(principal.FindFirstValue(OrganizationId)!);

    public static Guid? UserIdOrNull(this ClaimsPrincipal principal) =>
        principal.FindFirstValue(UserId) is { } id ? Guid.Parse(id) : null;
}
