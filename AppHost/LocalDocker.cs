using Docker.DotNet;

namespace Hangar.AppHost;

/// <summary>The Docker engine the AppHost's containers run on, asked what it has before the stack is composed.</summary>
internal static class LocalDocker
{
    /// <summary>A client of the engine at <c>DOCKER_HOST</c> (or the local socket), or null when none answers.</summary>
    public static async Task<DockerClient?> ConnectAsync()
    {
        var client = new DockerClientBuilder().Build();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
            await client.System.PingAsync(timeout.Token).ConfigureAwait(false);
            return client;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or System.Net.Sockets.SocketException or OperationCanceledException or DockerApiException)
        {
            client.Dispose();
            return null;
        }
    }

    public static async Task<bool> HasImageAsync(DockerClient docker, string image)
    {
        try
        {
            await docker.Images.InspectImageAsync(image).ConfigureAwait(false);
            return true;
        }
        catch (DockerImageNotFoundException)
        {
            return false;
        }
    }
}
