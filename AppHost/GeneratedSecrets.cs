using System.Buffers.Text;
using System.Security.Cryptography;

namespace Hangar.AppHost;

/// <summary>The keys a stack is given when none are configured: for the local app and for published stacks alike.</summary>
internal static class GeneratedSecrets
{
    /// <summary>An API key every <c>/api</c> call can use (<c>Hangar:BootstrapApiKey</c>).</summary>
    public static string ApiKey() => "hgr_" + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>The base64 secret the services share (<c>Hangar:SigningKey</c>).</summary>
    public static string SigningKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>A password for a PostgreSQL the stack runs, safe in a connection string and a URL.</summary>
    public static string Password() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(18));
}
