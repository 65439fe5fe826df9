using Microsoft.Extensions.Configuration;

namespace Hangar.AppHost.Publishing;

/// <summary>
/// The <c>publish</c> command: <c>publish compose</c> or <c>publish kubernetes</c>, then options as
/// <c>--output DIR</c>, <c>--skip-build</c>, or any <see cref="PublishOptions"/> property (<c>--image-tag 1.2</c>).
/// </summary>
public static class Publish
{
    private const string Usage = "Usage: publish compose|kubernetes [--output DIR] [--skip-build] [--image-prefix P] [--image-tag T] " +
        "[--public-stream-hub-url U] [--postgres-connection-string S] [--redis-connection-string S] [--docker-host H] [--agent-api-url U] [--docker-advertised-host H]";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is not [("compose" or "kubernetes") and var target, .. var rest])
        {
            await Console.Error.WriteLineAsync(Usage);
            return 2;
        }

        PublishOptions options;
        try
        {
            options = Parse(rest);
        }
        catch (FormatException ex)
        {
            await Console.Error.WriteLineAsync($"{ex.Message}\n{Usage}");
            return 2;
        }

        options.Output ??= Path.Combine(Repository.Root, "artifacts", "publish", target);
        var written = target == "compose"
            ? await ComposePublisher.WriteAsync(options, CancellationToken.None)
            : await KubernetesPublisher.WriteAsync(options, CancellationToken.None);
        Console.WriteLine($"Wrote {written}");
        return 0;
    }

    /// <summary><c>--skip-build</c> is a flag; every other <c>--kebab-name value</c> sets the property of that name.</summary>
    public static PublishOptions Parse(string[] args)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new FormatException($"'{args[i]}' is not an option.");
            }

            var name = string.Concat(args[i][2..].Split('-').Select(part => part.Length == 0 ? part : char.ToUpperInvariant(part[0]) + part[1..]));
            if (typeof(PublishOptions).GetProperty(name) is not { } property)
            {
                throw new FormatException($"Unknown option {args[i]}.");
            }

            settings[name] = property.PropertyType == typeof(bool) ? "true"
                : i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]} needs a value.");
        }

        return new ConfigurationBuilder().AddInMemoryCollection(settings).Build().Get<PublishOptions>() ?? new PublishOptions();
    }
}
