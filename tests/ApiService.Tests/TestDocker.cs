using Docker.DotNet;
using Docker.DotNet.Models;

namespace ApiService.Tests;

/// <summary>The local Docker engine, as the tests look at what the Deployer and the AppHost left on it.</summary>
internal sealed class TestDocker : IDisposable
{
    public DockerClient Client { get; } = new DockerClientBuilder().Build();

    /// <summary>Containers carrying the label (<c>key</c> or <c>key=value</c>), stopped ones too.</summary>
    public Task<IList<ContainerListResponse>> ContainersAsync(string label, CancellationToken cancellationToken = default) =>
        Client.Containers.ListContainersAsync(
            new ContainersListParameters { All = true, Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [label] = true } } },
            cancellationToken);

    /// <summary>The container's details, or null when it does not exist.</summary>
    public async Task<ContainerInspectResponse?> InspectAsync(string id, CancellationToken cancellationToken = default)
    {
        try
        {
            return await Client.Containers.InspectContainerAsync(id, cancellationToken);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Removes the agent containers of one installation (<see cref="Hangar.Contracts.Installation"/>).</summary>
    public static async Task RemoveContainersAsync(string installation)
    {
        using var docker = new TestDocker();
        foreach (var container in await docker.ContainersAsync($"{Hangar.Contracts.Installation.DockerLabel}={installation}"))
        {
            await docker.RemoveContainerAsync(container.ID);
        }
    }

    public async Task RemoveContainerAsync(string id, CancellationToken cancellationToken = default)
    {
        try
        {
            await Client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true }, cancellationToken);
        }
        catch (DockerContainerNotFoundException)
        {
            // Gone already.
        }
    }

    public async Task<bool> VolumeExistsAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            await Client.Volumes.InspectAsync(name, cancellationToken);
            return true;
        }
        catch (DockerApiException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    public async Task RemoveVolumeAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            await Client.Volumes.RemoveAsync(name, force: false, cancellationToken);
        }
        catch (DockerApiException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // Gone already.
        }
    }

    public void Dispose() => Client.Dispose();
}
