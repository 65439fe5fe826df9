using System.Security.Cryptography;
using System.Text;

namespace Hangar.Deployer.Runtimes;

/// <summary>
/// A name for the Hangar installation, derived from the signing key its services share: every Deployer of one
/// installation finds the same, another installation (a test stack beside a developer's) a different one.
/// </summary>
public static class Installation
{
    public static string Of(string signingKey) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), "hangar/installation"u8))[..16];
}
