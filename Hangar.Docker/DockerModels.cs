namespace Hangar.Docker;

/// <summary>The engine's answer to <c>GET /version</c>.</summary>
public sealed record DockerVersion(string Version, string ApiVersion, string MinApiVersion, string Os, string Arch);

/// <summary>A restart policy: <c>no</c>, <c>always</c>, <c>unless-stopped</c> or <c>on-failure</c> (with at most <see cref="MaximumRetryCount"/> retries).</summary>
public sealed record RestartPolicy(string Name, int MaximumRetryCount = 0);

/// <summary>
/// What to create: the image, command, environment, labels and volumes; memory and CPU limits; the network mode
/// (<c>host</c>, or <c>bridge</c> with <see cref="PublishedPorts"/> published on free ports of <see cref="PublishHostIp"/>).
/// </summary>
public sealed record ContainerSpec(string Image)
{
    public IReadOnlyList<string>? Command { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public string? WorkingDirectory { get; init; }

    public long? MemoryBytes { get; init; }

    /// <summary>CPUs the container may use (1.5 = one and a half cores).</summary>
    public double? Cpus { get; init; }

    public string NetworkMode { get; init; } = "bridge";

    /// <summary>Container TCP ports to publish on free host ports (bridge mode only).</summary>
    public IReadOnlyList<int> PublishedPorts { get; init; } = [];

    public string PublishHostIp { get; init; } = "127.0.0.1";

    /// <summary>
    /// Named volumes (or host paths), each with the container path it is mounted at. A named volume that does not
    /// exist is created, holding what the image has at that path.
    /// </summary>
    public IReadOnlyDictionary<string, string> Volumes { get; init; } = new Dictionary<string, string>();

    /// <summary><c>host:ip</c> entries for <c>/etc/hosts</c>; <c>host-gateway</c> is the host seen from a bridge.</summary>
    public IReadOnlyList<string> ExtraHosts { get; init; } = [];

    public RestartPolicy RestartPolicy { get; init; } = new("no");

    /// <summary>Seconds between SIGTERM and SIGKILL when the container is stopped.</summary>
    public int? StopTimeoutSeconds { get; init; }
}

/// <summary>
/// A container as listed: id, name, labels, state (<c>created</c>, <c>running</c>, <c>exited</c>, …) and the host
/// ports its TCP ports are published on while it runs.
/// </summary>
public sealed record ContainerSummary(
    string Id, string Name, string Image, string State, IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<int, int> HostPorts);

public sealed record ContainerState(
    string Status, bool Running, bool Restarting, bool OomKilled, int ExitCode, string? Error, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt);

/// <summary>A container inspected: its state, how often the engine restarted it, labels and the host ports its container ports are published on.</summary>
public sealed record ContainerDetails(
    string Id, string Name, ContainerState State, int RestartCount, IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<int, int> HostPorts);

/// <summary>One line a container printed, from stdout or stderr.</summary>
public sealed record ContainerLogLine(bool IsError, string Text);

/// <summary>An engine event (<c>GET /events</c>): type (<c>container</c>, <c>image</c>, …), action (<c>start</c>, <c>die</c>, …), the object's id and attributes.</summary>
public sealed record DockerEvent(string Type, string Action, string Id, IReadOnlyDictionary<string, string> Attributes, DateTimeOffset Time);
