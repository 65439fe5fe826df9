using System.Globalization;
using System.Runtime.CompilerServices;
using Hangar.Contracts;
using Hangar.Docker;

namespace Hangar.Deployer.Runtimes;

/// <summary>
/// Deployments as containers of the agent image: the bundle copied to <c>/app</c>, Blink's environment, memory and
/// CPU limits, an on-failure restart policy and labels naming the deployment. With <c>bridge</c> networking the
/// wrapper listens on 3000 and is published on a free host port; with <c>host</c> networking it takes a free port of
/// the host, on loopback. Only containers labelled with this installation are listed, so two installations can
/// share one engine.
/// </summary>
public sealed class DockerRuntime(DockerClient docker, DeployerOptions options, string installation) : IAgentRuntime
{
    public const string DeploymentLabel = "hangar.deployment";

    public const string InstallationLabel = Installation.DockerLabel;
    private const string AgentLabel = "hangar.agent";
    private const string PortLabel = "hangar.port";
    private const string NetworkLabel = "hangar.network";
    private const string TokenLabel = "hangar.token";
    private const int BridgePort = 3000;

    private readonly DockerRuntimeOptions _docker = options.Docker;

    public string Name => "docker";

    private bool HostNetwork => _docker.NetworkMode == "host";

    /// <summary>On the default bridge the wrapper's port is published; on a named network it is reached by the container's name.</summary>
    private bool Publishes => _docker.NetworkMode == "bridge";

    public async Task<IReadOnlyList<AgentInstance>> ListAsync(CancellationToken cancellationToken)
    {
        var containers = await docker.ListContainersAsync([DeploymentLabel, $"{InstallationLabel}={installation}"], cancellationToken).ConfigureAwait(false);
        var instances = new List<AgentInstance>(containers.Count);
        foreach (var container in containers)
        {
            if (Guid.TryParse(container.Labels[DeploymentLabel], out var deployment))
            {
                instances.Add(new AgentInstance(container.Id, deployment, UrlOf(container.Labels, container.HostPorts), TokenOf(container.Labels)));
            }
        }

        return instances;
    }

    public async Task<AgentInstance> StartAsync(AgentLaunch launch, CancellationToken cancellationToken)
    {
        // The wrapper takes the port, the agent the one after it.
        var port = HostNetwork ? LocalPorts.Next(2) : BridgePort;
        var environment = new Dictionary<string, string>(launch.Environment, StringComparer.Ordinal)
        {
            ["ENTRYPOINT"] = launch.Entrypoint,
            ["PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["INTERNAL_BLINK_API_SERVER_LISTEN_PORT"] = (HostNetwork ? LocalPorts.Next() : BridgePort + 2).ToString(CultureInfo.InvariantCulture),
            ["HANGAR_WRAPPER_HOST"] = HostNetwork ? "127.0.0.1" : "0.0.0.0",
        };
        var labels = new Dictionary<string, string>
        {
            [DeploymentLabel] = launch.DeploymentId.ToString(),
            [InstallationLabel] = installation,
            [AgentLabel] = launch.AgentId.ToString(),
            [PortLabel] = port.ToString(CultureInfo.InvariantCulture),
            [NetworkLabel] = _docker.NetworkMode,
            [TokenLabel] = launch.TokenId.ToString(),
        };
        var spec = new ContainerSpec(_docker.Image)
        {
            Environment = environment,
            Labels = labels,
            WorkingDirectory = "/app",
            MemoryBytes = _docker.MemoryBytes,
            Cpus = _docker.Cpus,
            NetworkMode = _docker.NetworkMode,
            PublishedPorts = Publishes ? [BridgePort] : [],
            PublishHostIp = _docker.PublishHostIp,
            ExtraHosts = HostNetwork ? [] : ["host.docker.internal:host-gateway"],
            RestartPolicy = new RestartPolicy("on-failure", options.MaxRestarts),
            StopTimeoutSeconds = (int)Math.Ceiling(options.StopTimeout.TotalSeconds),
        };

        var name = ContainerName(launch.DeploymentId);
        string id;
        try
        {
            id = await CreateAsync(name, spec, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerException ex) when (ex.IsNotFound && ex.Message.Contains("network", StringComparison.OrdinalIgnoreCase))
        {
            throw new AgentStartException($"The Docker network '{_docker.NetworkMode}' (Deployer:Docker:NetworkMode) does not exist. ({ex.Message})", ex);
        }
        catch (DockerException ex) when (ex.IsNotFound)
        {
            throw new AgentStartException($"The agent image '{_docker.Image}' is not on the Docker engine: build it with scripts/build-agent-image.sh. ({ex.Message})", ex);
        }

        try
        {
            using var bundle = new MemoryStream(launch.Bundle, writable: false);
            await docker.PutArchiveAsync(id, "/app", bundle, cancellationToken).ConfigureAwait(false);
            await docker.StartContainerAsync(id, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerException ex)
        {
            await docker.RemoveContainerAsync(id, force: true, CancellationToken.None).ConfigureAwait(false);
            throw new AgentStartException($"The container could not be started: {ex.Message}", ex);
        }

        var hostPorts = Publishes ? (await docker.InspectContainerAsync(id, cancellationToken).ConfigureAwait(false))?.HostPorts : new Dictionary<int, int>();
        return new AgentInstance(id, launch.DeploymentId, UrlOf(labels, hostPorts ?? new Dictionary<int, int>()), launch.TokenId);
    }

    public async Task<InstanceState> InspectAsync(AgentInstance instance, CancellationToken cancellationToken)
    {
        if (await docker.InspectContainerAsync(instance.Id, cancellationToken).ConfigureAwait(false) is not { } container)
        {
            return InstanceState.Missing;
        }

        var state = container.State;
        var error = state.OomKilled ? "killed for using more memory than its limit" : state.Error;
        // After an engine restart the last exit code is still the one that made it restart.
        var exitCode = state.Running && container.RestartCount == 0 ? (int?)null : state.ExitCode;
        return new InstanceState(true, state.Running && !state.Restarting, exitCode, container.RestartCount, error);
    }

    public Task RestartAsync(AgentInstance instance, CancellationToken cancellationToken) => docker.StartContainerAsync(instance.Id, cancellationToken);

    public async IAsyncEnumerable<Guid> StoppedAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var change in docker.EventsAsync($"{InstallationLabel}={installation}", cancellationToken).ConfigureAwait(false))
        {
            if (change.Action == "die" && change.Attributes.TryGetValue(DeploymentLabel, out var label) && Guid.TryParse(label, out var deployment))
            {
                yield return deployment;
            }
        }
    }

    public async Task RemoveAsync(AgentInstance instance, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await docker.StopContainerAsync(instance.Id, timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerException ex) when (ex.IsNotFound)
        {
            return;
        }

        await docker.RemoveContainerAsync(instance.Id, force: true, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> RecentOutputAsync(AgentInstance instance, int lines, CancellationToken cancellationToken)
    {
        var output = new List<string>();
        try
        {
            await foreach (var line in docker.LogsAsync(instance.Id, lines, follow: false, cancellationToken).ConfigureAwait(false))
            {
                output.Add(line.Text);
            }
        }
        catch (DockerException ex) when (ex.IsNotFound)
        {
            // Removed already: nothing to show.
        }

        return output;
    }

    /// <summary>Creates the container; one left by an earlier attempt under the same name is removed first.</summary>
    private async Task<string> CreateAsync(string name, ContainerSpec spec, CancellationToken cancellationToken)
    {
        try
        {
            return await docker.CreateContainerAsync(name, spec, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerException ex) when (ex.IsConflict)
        {
            await docker.RemoveContainerAsync(name, force: true, cancellationToken).ConfigureAwait(false);
            return await docker.CreateContainerAsync(name, spec, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Where the wrapper answers: its own port on the host network, the host port its port 3000 is published on with
    /// the default bridge (empty while stopped), or its name on a named network. The container's own network mode
    /// counts, so a Deployer whose setting changed still finds the containers made before.
    /// </summary>
    private string UrlOf(IReadOnlyDictionary<string, string> labels, IReadOnlyDictionary<int, int> hostPorts) => labels[NetworkLabel] switch
    {
        "host" => $"http://{options.AdvertisedHost}:{labels[PortLabel]}",
        "bridge" => hostPorts.TryGetValue(BridgePort, out var hostPort) ? $"http://{options.AdvertisedHost}:{hostPort}" : "",
        _ => $"http://{ContainerName(Guid.Parse(labels[DeploymentLabel]))}:{BridgePort}",
    };

    // The whole id: version 7 ids made close together share their first characters.
    private static string ContainerName(Guid deploymentId) => $"hangar-deployment-{deploymentId:N}";

    private static Guid? TokenOf(IReadOnlyDictionary<string, string> labels) =>
        labels.TryGetValue(TokenLabel, out var token) && Guid.TryParse(token, out var id) ? id : null;
}
