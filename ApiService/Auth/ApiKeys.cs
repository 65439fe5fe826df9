using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Hangar.ApiService.Auth;

/// <summary>API keys: <c>hgr_</c> and 32 random bytes. Only the SHA-256 is stored; the key has the entropy a slow hash would add.</summary>
internal static class ApiKeys
{
    public const string Prefix = "hgr_";

    public static string Generate() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>What a listing may show of a key: its first characters.</summary>
    public static string DisplayPrefix(string key) => key[..Math.Min(key.Length, 10)];
}
