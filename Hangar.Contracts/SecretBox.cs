using System.Security.Cryptography;
using System.Text;

namespace Hangar.Contracts;

/// <summary>
/// Seals secrets kept at rest (agents' secret environment variables): AES-256-GCM with a key derived from the shared
/// signing secret by HKDF, so the services that need the plaintext (ApiService, the Deployer) hold no second key.
/// A sealed value is bound to what it belongs to (<c>context</c>): moved to another agent or name, it does not open.
/// </summary>
public sealed class SecretBox
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private static readonly byte[] Purpose = "hangar/sealed-secrets/v1"u8.ToArray();

    private readonly byte[] _key;

    public SecretBox(byte[] signingSecret)
    {
        _key = HKDF.DeriveKey(HashAlgorithmName.SHA256, signingSecret, 32, salt: [], info: Purpose);
    }

    public static SecretBox FromBase64(string signingSecret) => new(Convert.FromBase64String(signingSecret));

    /// <summary>nonce ‖ ciphertext ‖ tag.</summary>
    public byte[] Seal(string plaintext, string context)
    {
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var sealedValue = new byte[NonceSize + plain.Length + TagSize];
        var nonce = sealedValue.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagSize);
        aes.Encrypt(nonce, plain, sealedValue.AsSpan(NonceSize, plain.Length), sealedValue.AsSpan(NonceSize + plain.Length), Encoding.UTF8.GetBytes(context));
        return sealedValue;
    }

    /// <summary>The plaintext; throws <see cref="CryptographicException"/> when the value was altered, moved or sealed with another key.</summary>
    public string Open(byte[] sealedValue, string context)
    {
        if (sealedValue.Length < NonceSize + TagSize)
        {
            throw new CryptographicException("The sealed value is too short.");
        }

        var plain = new byte[sealedValue.Length - NonceSize - TagSize];
        using var aes = new AesGcm(_key, TagSize);
        aes.Decrypt(sealedValue.AsSpan(0, NonceSize), sealedValue.AsSpan(NonceSize, plain.Length), sealedValue.AsSpan(NonceSize + plain.Length), plain, Encoding.UTF8.GetBytes(context));
        return Encoding.UTF8.GetString(plain);
    }

    /// <summary>The context an agent's environment variable is sealed under.</summary>
    public static string AgentEnvironmentContext(Guid agentId, string name) => $"agent-env:{agentId:N}:{name}";
}
