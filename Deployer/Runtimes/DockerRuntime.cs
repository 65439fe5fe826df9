using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Docker.DotNet;
using Docker.DotNet.Models;
using Hangar.Contracts;

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
        var containers = await docker.Containers.ListContainersAsync(
            new ContainersListParameters { All = true, Filters = LabelFilter(DeploymentLabel, $"{InstallationLabel}={installation}") },
            cancellationToken).ConfigureAwait(false);
        var instances = new List<AgentInstance>(containers.Count);
        foreach (var container in containers)
        {
            if (container.Labels is { } labels && labels.TryGetValue(DeploymentLabel, out var label) && Guid.TryParse(label, out var deployment))
            {
                var hostPorts = (container.Ports ?? [])
                    .Where(p => p.PublicPort is not null && p.Type == "tcp")
                    .DistinctBy(p => p.PrivatePort)
                    .ToDictionary(p => (int)p.PrivatePort, p => (int)p.PublicPort!.Value);
                instances.Add(new AgentInstance(container.ID, deployment, UrlOf(labels, hostPorts), TokenOf(labels)));
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
        var bridgePort = $"{BridgePort}/tcp";
        var container = new CreateContainerParameters
        {
            Name = ContainerName(launch.DeploymentId),
            Image = _docker.Image,
            Env = [.. environment.Select(e => $"{e.Key}={e.Value}")],
            Labels = labels,
            WorkingDir = "/app",
            ExposedPorts = Publishes ? new Dictionary<string, EmptyStruct> { [bridgePort] = default } : null,
            StopTimeout = TimeSpan.FromSeconds(Math.Ceiling(options.StopTimeout.TotalSeconds)),
            HostConfig = new HostConfig
            {
                Memory = _docker.MemoryBytes,
                NanoCPUs = (long)(_docker.Cpus * 1e9),
                NetworkMode = _docker.NetworkMode,
                PortBindings = Publishes
                    ? new Dictionary<string, IList<PortBinding>> { [bridgePort] = [new PortBinding { HostIP = _docker.PublishHostIp, HostPort = "" }] }
                    : null,
                ExtraHosts = HostNetwork ? null : ["host.docker.internal:host-gateway"],
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.OnFailure, MaximumRetryCount = options.MaxRestarts },
            },
        };

        string id;
        try
        {
            id = await CreateAsync(container, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound && ex.ResponseBody?.Contains("network", StringComparison.OrdinalIgnoreCase) == true)
        {
            throw new AgentStartException($"The Docker network '{_docker.NetworkMode}' (Deployer:Docker:NetworkMode) does not exist. ({EngineMessage(ex)})", ex);
        }
        catch (DockerApiException ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            throw new AgentStartException($"The agent image '{_docker.Image}' is not on the Docker engine: build it with scripts/build-agent-image.sh. ({EngineMessage(ex)})", ex);
        }

        try
        {
            using var bundle = new MemoryStream(launch.Bundle, writable: false);
            await docker.Containers.ExtractArchiveToContainerAsync(id, new CopyToContainerParameters { Path = "/app" }, bundle, cancellationToken).ConfigureAwait(false);
            await docker.Containers.StartContainerAsync(id, new ContainerStartParameters(), cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException ex)
        {
            await RemoveContainerAsync(id, CancellationToken.None).ConfigureAwait(false);
            throw new AgentStartException($"The container could not be started: {EngineMessage(ex)}", ex);
        }

        var hostPorts = Publishes ? HostPortsOf(await InspectContainerAsync(id, cancellationToken).ConfigureAwait(false)) : new Dictionary<int, int>();
        return new AgentInstance(id, launch.DeploymentId, UrlOf(labels, hostPorts), launch.TokenId);
    }

    public async Task<InstanceState> InspectAsync(AgentInstance instance, CancellationToken cancellationToken)
    {
        if (await InspectContainerAsync(instance.Id, cancellationToken).ConfigureAwait(false) is not { } container)
        {
            return InstanceState.Missing;
        }

        var state = container.State ?? new State();
        var error = state.OOMKilled ? "killed for using more memory than its limit" : state.Error;
        // After an engine restart the last exit code is still the one that made it restart.
        var exitCode = state.Running && container.RestartCount == 0 ? (int?)null : (int)state.ExitCode;
        return new InstanceState(true, state.Running && !state.Restarting, exitCode, (int)container.RestartCount, error);
    }

    public Task RestartAsync(AgentInstance instance, CancellationToken cancellationToken) =>
        docker.Containers.StartContainerAsync(instance.Id, new ContainerStartParameters(), cancellationToken);

    public async IAsyncEnumerable<Guid> StoppedAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var filters = LabelFilter($"{InstallationLabel}={installation}");
        filters["type"] = new Dictionary<string, bool> { ["container"] = true };
        filters["event"] = new Dictionary<string, bool> { ["die"] = true };
        var events = Channel.CreateUnbounded<Message>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var monitor = docker.System.MonitorEventsAsync(
            new ContainerEventsParameters { Filters = filters }, new Reported<Message>(change => events.Writer.TryWrite(change)), cancellationToken);
        _ = monitor.ContinueWith(
            static (task, writer) => ((ChannelWriter<Message>)writer!).TryComplete(task.Exception?.InnerException),
            events.Writer,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);

        await foreach (var change in events.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (change.Actor?.Attributes is { } attributes && attributes.TryGetValue(DeploymentLabel, out var label) && Guid.TryParse(label, out var deployment))
            {
                yield return deployment;
            }
        }
    }

    public async Task RemoveAsync(AgentInstance instance, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            await docker.Containers.StopContainerAsync(
                instance.Id, new ContainerStopParameters { WaitBeforeKillSeconds = (uint)Math.Ceiling(timeout.TotalSeconds) }, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            return;
        }

        await RemoveContainerAsync(instance.Id, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> RecentOutputAsync(AgentInstance instance, int lines, CancellationToken cancellationToken)
    {
        var output = new List<string>();
        try
        {
            await docker.Containers.GetContainerLogsAsync(
                instance.Id,
                new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = lines.ToString(CultureInfo.InvariantCulture) },
                new Reported<string>(output.Add),
                cancellationToken).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            // Removed already: nothing to show.
        }

        return output;
    }

    /// <summary>Creates the container; one left by an earlier attempt under the same name is removed first.</summary>
    private async Task<string> CreateAsync(CreateContainerParameters container, CancellationToken cancellationToken)
    {
        try
        {
            return (await docker.Containers.CreateContainerAsync(container, cancellationToken).ConfigureAwait(false)).ID;
        }
        catch (DockerApiException ex) when (ex.StatusCode == HttpStatusCode.Conflict)
        {
            await RemoveContainerAsync(container.Name!, cancellationToken).ConfigureAwait(false);
            return (await docker.Containers.CreateContainerAsync(container, cancellationToken).ConfigureAwait(false)).ID;
        }
    }

    /// <summary>Removes the container, killing it first; one already gone is not an error.</summary>
    private async Task RemoveContainerAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            await docker.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true }, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            // Already removed.
        }
    }

    private async Task<ContainerInspectResponse?> InspectContainerAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            return await docker.Containers.InspectContainerAsync(id, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The host ports a container's ports are published on, while it runs (<c>NetworkSettings.Ports</c>).</summary>
    private static Dictionary<int, int> HostPortsOf(ContainerInspectResponse? container)
    {
        var ports = new Dictionary<int, int>();
        foreach (var (key, bindings) in container?.NetworkSettings?.Ports ?? new Dictionary<string, IList<PortBinding>>())
        {
            if (key.EndsWith("/tcp", StringComparison.Ordinal)
                && int.TryParse(key.AsSpan(0, key.Length - 4), CultureInfo.InvariantCulture, out var port)
                && bindings?.FirstOrDefault(b => int.TryParse(b.HostPort, CultureInfo.InvariantCulture, out _)) is { } binding)
            {
                ports[port] = int.Parse(binding.HostPort, CultureInfo.InvariantCulture);
            }
        }

        return ports;
    }

    /// <summary>A filter on labels: <c>key</c> matches any value, <c>key=value</c> that value.</summary>
    private static Dictionary<string, IDictionary<string, bool>> LabelFilter(params string[] labels) =>
        new() { ["label"] = labels.ToDictionary(l => l, _ => true) };

    /// <summary>The engine answers errors as <c>{"message": …}</c>; that message is what a user can act on.</summary>
    private static string EngineMessage(DockerApiException ex)
    {
        try
        {
            return System.Text.Json.JsonDocument.Parse(ex.ResponseBody ?? "").RootElement.GetProperty("message").GetString() ?? ex.Message;
        }
        catch (Exception parse) when (parse is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return ex.ResponseBody ?? ex.Message;
        }
    }

    /// <summary>
    /// Where the wrapper answers: its own port on the host network, the host port its port 3000 is published on with
    /// the default bridge (empty while stopped), or its name on a named network. The container's own network mode
    /// counts, so a Deployer whose setting changed still finds the containers made before.
    /// </summary>
    private string UrlOf(IDictionary<string, string> labels, IReadOnlyDictionary<int, int> hostPorts) => labels[NetworkLabel] switch
    {
        "host" => $"http://{options.AdvertisedHost}:{labels[PortLabel]}",
        "bridge" => hostPorts.TryGetValue(BridgePort, out var hostPort) ? $"http://{options.AdvertisedHost}:{hostPort}" : "",
        _ => $"http://{ContainerName(Guid.Parse(labels[DeploymentLabel]))}:{BridgePort}",
    };

    // The whole id: version 7 ids made close together share their first characters.
    private static string ContainerName(Guid deploymentId) => $"hangar-deployment-{deploymentId:N}";

    private static Guid? TokenOf(IDictionary<string, string> labels) =>
        labels.TryGetValue(TokenLabel, out var token) && Guid.TryParse(token, out var id) ? id : null;

    /// <summary>Takes what the client reports at once, in order (<see cref="Progress{T}"/> would post each to the thread pool).</summary>
    private sealed class Reported<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
