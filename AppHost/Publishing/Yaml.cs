using YamlDotNet.Serialization;

namespace Hangar.AppHost.Publishing;

/// <summary>YAML documents from ordered maps and lists, strings quoted wherever YAML would read them as something else.</summary>
internal static class Yaml
{
    private static readonly ISerializer Serializer = new SerializerBuilder().WithQuotingNecessaryStrings(quoteYaml1_1Strings: true).DisableAliases().Build();

    /// <summary>A mapping in the given order; entries whose value is null are left out.</summary>
    public static OrderedDictionary<string, object> Map(params (string Key, object? Value)[] entries)
    {
        var map = new OrderedDictionary<string, object>();
        foreach (var (key, value) in entries)
        {
            if (value is not null)
            {
                map[key] = value;
            }
        }

        return map;
    }

    public static string Write(object document) => Serializer.Serialize(document);

    /// <summary>Several documents in one stream, each after a <c>---</c>.</summary>
    public static string WriteAll(IEnumerable<object> documents) => string.Concat(documents.Select(d => "---\n" + Write(d)));
}
