using System.Reflection;

namespace Hangar.AppHost.Publishing;

/// <summary>Where the sources are: the publishers copy Dockerfiles from it and publish its projects.</summary>
internal static class Repository
{
    /// <summary>The parent of the AppHost project's directory, which the Aspire SDK records in the AppHost's assembly.</summary>
    public static string Root { get; } = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(
        typeof(Repository).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "apphostprojectpath").Value!))!;
}
