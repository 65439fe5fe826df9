using Aspire.Hosting.Publishing;

namespace Hangar.AppHost;

/// <summary>
/// A parameter's value made on the first run when none is configured: a key in the format the services expect, which
/// Aspire's <see cref="GenerateParameterDefault"/> (random characters from an alphabet) does not make.
/// </summary>
internal sealed class GeneratedKey(Func<string> generate, string description) : ParameterDefault
{
    /// <summary><c>Hangar:SigningKey</c>: 32 random bytes in base64, shared by every service.</summary>
    public static GeneratedKey SigningKey { get; } = new(GeneratedSecrets.SigningKey, "32 random bytes, base64");

    /// <summary><c>Hangar:BootstrapApiKey</c>: an API key every <c>/api</c> call can use.</summary>
    public static GeneratedKey ApiKey { get; } = new(GeneratedSecrets.ApiKey, "hgr_ and 32 random bytes, base64url");

    public override string GetDefaultValue() => generate();

    /// <summary>A published stack is given its keys by whoever deploys it: the manifest only says what they look like.</summary>
    public override void WriteToManifest(ManifestPublishingContext context) => context.Writer.WriteString("description", description);
}
