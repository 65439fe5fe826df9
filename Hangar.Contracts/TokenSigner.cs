using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Hangar.Contracts;

/// <summary>
/// Signs and verifies short-lived tokens with HMAC-SHA256: <c>base64url(payload JSON).base64url(mac)</c>. Each
/// purpose (stream tickets, invocation tokens) gets its own key derived from the one secret, so a token issued for
/// one purpose never verifies as another. Verifying needs no database: that is what lets StreamHub check tickets.
/// </summary>
public sealed class TokenSigner
{
    private readonly byte[] _secret;

    public TokenSigner(byte[] secret)
    {
        if (secret.Length < 32)
        {
            throw new ArgumentException("The signing secret must be at least 32 bytes.", nameof(secret));
        }

        _secret = secret;
    }

    /// <summary>Reads the secret from configuration: base64 of at least 32 random bytes.</summary>
    public static TokenSigner FromBase64(string? secret, string settingName)
    {
        if (string.IsNullOrWhiteSpace(secret))
        {
            throw new InvalidOperationException($"{settingName} is not set: give every ApiService and StreamHub the same base64 secret of 32 bytes or more (for example `openssl rand -base64 32`).");
        }

        try
        {
            return new TokenSigner(Convert.FromBase64String(secret));
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{settingName} is not valid base64.", ex);
        }
    }

    public string Sign<T>(string purpose, T payload, JsonTypeInfo<T> typeInfo)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(payload, typeInfo);
        var body = Base64Url.EncodeToString(json);
        return body + "." + Base64Url.EncodeToString(Mac(purpose, body));
    }

    public bool TryVerify<T>(string purpose, string? token, JsonTypeInfo<T> typeInfo, out T? payload)
    {
        payload = default;
        var dot = token?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        if (token is null || dot <= 0)
        {
            return false;
        }

        var body = token[..dot];
        Span<byte> given = stackalloc byte[32];
        if (!Base64Url.TryDecodeFromChars(token.AsSpan(dot + 1), given, out var written) || written != 32
            || !CryptographicOperations.FixedTimeEquals(given, Mac(purpose, body)))
        {
            return false;
        }

        try
        {
            payload = JsonSerializer.Deserialize(Base64Url.DecodeFromChars(body), typeInfo);
            return payload is not null;
        }
        catch (Exception ex) when (ex is JsonException or FormatException)
        {
            return false;
        }
    }

    private byte[] Mac(string purpose, string body)
    {
        var key = HMACSHA256.HashData(_secret, Encoding.UTF8.GetBytes(purpose));
        return HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(body));
    }
}
