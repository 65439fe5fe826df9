using System.Security.Cryptography;
using System.Text;

namespace Hangar.Contracts;

/// <summary>
/// A name for the Hangar installation, derived from the signing key its services share: every Deployer of one
/// installation finds the same, another installation (a test stack beside a developer's) a different one.
/// </summary>
public static class Installation
{
    /// <summary>The container label that carries it: Deployers manage only their own installation's containers.</summary>
    public const string DockerLabel = "hangar.installation";

    public static string Of(string signingKey) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), "hangar/installation"u8))[..16];
}
