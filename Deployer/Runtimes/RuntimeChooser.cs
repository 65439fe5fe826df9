using Docker.DotNet;

namespace Hangar.Deployer.Runtimes;

/// <summary>The runtime configuration asks for; with <c>auto</c>, Docker when its engine answers and processes otherwise.</summary>
public static class RuntimeChooser
{
    public sealed record Choice(IAgentRuntime Runtime, DockerClient? Docker, string Description);

    public static async Task<Choice> ChooseAsync(DeployerOptions options, string installation)
    {
        if (options.Runtime is not ("auto" or "docker" or "process"))
        {
            throw new InvalidOperationException($"Deployer:Runtime '{options.Runtime}' is not one of auto, docker, process.");
        }

        if (string.IsNullOrWhiteSpace(options.Docker.NetworkMode))
        {
            throw new InvalidOperationException("Deployer:Docker:NetworkMode is empty: use bridge, host, or the name of a Docker network.");
        }

        if (options.Runtime != "process")
        {
            try
            {
                var engine = await DockerEngine.ConnectAsync(options.Docker.Host, DockerEngine.TlsDirectoryFromEnvironment());
                return new Choice(
                    new DockerRuntime(engine.Client, options, installation),
                    engine.Client,
                    $"docker (engine {engine.Version.Version} at {engine.Address}, API {engine.Version.APIVersion}, image {options.Docker.Image}, {options.Docker.NetworkMode} network)");
            }
            catch (DockerUnavailableException ex) when (options.Runtime == "auto")
            {
                return new Choice(new ProcessRuntime(options, installation), null, $"process (no Docker: {ex.Message})");
            }
        }

        return new Choice(new ProcessRuntime(options, installation), null, "process");
    }
}
