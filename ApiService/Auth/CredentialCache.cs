using System.Collections.Concurrent;
using System.Security.Claims;

namespace Hangar.ApiService.Auth;

/// <summary>
/// What the bearer schemes share: reading <c>Authorization: Bearer &lt;credential&gt;</c>, and keeping each
/// successful look-up for a few seconds so the hot path (sending messages, reading runs, agents' storage calls) does
/// not pay a query per request. A revoked credential stops working within that time. Failed look-ups are not kept.
/// </summary>
internal sealed class CredentialCache(TimeSpan keepFor, int maxEntries = 10_000)
{
    private readonly ConcurrentDictionary<string, (ClaimsPrincipal Principal, DateTimeOffset Until)> _entries = new(StringComparer.Ordinal);

    /// <summary>The credential of a bearer <c>Authorization</c> header, or null when the request has none.</summary>
    public static string? BearerCredential(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    public async ValueTask<ClaimsPrincipal?> GetOrLookUpAsync(string credential, DateTimeOffset now, Func<string, Task<ClaimsPrincipal?>> lookUp)
    {
        if (_entries.TryGetValue(credential, out var cached) && cached.Until > now)
        {
            return cached.Principal;
        }

        var principal = await lookUp(credential);
        if (principal is not null)
        {
            if (_entries.Count >= maxEntries)
            {
                Evict(now);
            }

            _entries[credential] = (principal, now + keepFor);
        }

        return principal;
    }

    /// <summary>Drops expired entries, and everything when all are fresh, so a flood of distinct credentials cannot grow memory.</summary>
    private void Evict(DateTimeOffset now)
    {
        foreach (var (key, entry) in _entries)
        {
            if (entry.Until <= now)
            {
                _entries.TryRemove(key, out _);
            }
        }

        if (_entries.Count >= maxEntries)
        {
            _entries.Clear();
        }
    }
}
