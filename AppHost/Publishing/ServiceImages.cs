
namespace Hangar.AppHost.Publishing;

/// <summary>
/// The services' image build contexts, <c>images/{service}/</c> in the output: the service's Dockerfile from the
/// repository and its <c>dotnet publish</c> output (Release, framework-dependent: the base image brings the runtime).
/// </summary>
public static class ServiceImages
{
    public static async Task PrepareAsync(PublishedStack stack, string output, CancellationToken cancellationToken)
    {
        foreach (var service in stack.Services)
        {
            var context = Path.Combine(output, "images", service.Name);
            if (Directory.Exists(context))
            {
                Directory.Delete(context, recursive: true);
            }

            Directory.CreateDirectory(context);
            File.Copy(Path.Combine(Repository.Root, service.Project, "Dockerfile"), Path.Combine(context, "Dockerfile"));
            if (!stack.Options.SkipBuild)
            {
                await PublishAsync(service.Project, context, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task PublishAsync(string project, string context, CancellationToken cancellationToken)
    {
        var (code, output) = await Command.RunAsync(
            "dotnet",
            ["publish", Path.Combine(Repository.Root, project), "-c", "Release", "-o", context, "-nologo", "-v", "quiet"],
            cancellationToken: cancellationToken).ConfigureAwait(false);
        if (code != 0)
        {
            throw new InvalidOperationException($"dotnet publish {project} failed with code {code}:\n{output}");
        }
    }
}
