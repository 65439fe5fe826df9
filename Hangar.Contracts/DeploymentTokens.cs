using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Hangar.Contracts;

/// <summary>
/// Deployment tokens: <c>hgd_</c> and 32 random bytes. ApiService stores only their SHA-256 and a display prefix; it
/// mints one for an external deployment, the Deployer one for each container or process it starts.
/// </summary>
public static class DeploymentTokens
{
    public const string Prefix = "hgd_";

    public static string Generate() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    /// <summary>What a listing may show of a token: its first characters.</summary>
    public static string DisplayPrefix(string token) => token[..Math.Min(token.Length, 10)];
}
