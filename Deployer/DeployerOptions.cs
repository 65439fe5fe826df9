namespace Hangar.Deployer;

/// <summary>The Deployer's settings, section <c>Deployer</c> (environment: <c>Deployer__Runtime=process</c>, …).</summary>
public sealed class DeployerOptions
{
    public const string Section = "Deployer";

    /// <summary><c>docker</c>, <c>process</c>, or <c>auto</c> (default): Docker when its engine answers, processes otherwise.</summary>
    public string Runtime { get; set; } = "auto";

    /// <summary>This replica's name in deployment leases. Default: host name and process id.</summary>
    public string? InstanceId { get; set; }

    /// <summary>How long a deployment stays this replica's without renewal; another replica takes it over after that. Default 15 s.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Time between two passes when no change wakes the loop. Default 2 s.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>ApiService's URL as an agent reaches it (<c>INTERNAL_BLINK_API_SERVER_URL</c>). Default: Aspire's <c>services:apiservice</c> endpoint.</summary>
    public string? ApiUrl { get; set; }

    /// <summary>The host name put in deployment URLs: where ApiService reaches the agents. Default 127.0.0.1.</summary>
    public string AdvertisedHost { get; set; } = "127.0.0.1";

    /// <summary>Longest wait for <c>/_agent/health</c> after a start. Default 60 s.</summary>
    public TimeSpan HealthTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest wait for a replaced deployment's steps in flight before it is stopped. Default 30 s.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Time between SIGTERM and SIGKILL when an agent is stopped. Default 10 s.</summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Restarts within <see cref="CrashLoopWindow"/> after which a deployment is marked failed. Default 5.</summary>
    public int MaxRestarts { get; set; } = 5;

    public TimeSpan CrashLoopWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Time between two <c>/_agent/health</c> probes of a running deployment. Default 10 s.</summary>
    public TimeSpan LivenessInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait for one health probe's answer, at start and while running. Default 5 s.</summary>
    public TimeSpan LivenessTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Probes in a row without an answer after which a running agent counts as hung and is restarted. Default 3.</summary>
    public int LivenessFailures { get; set; } = 3;

    public DockerRuntimeOptions Docker { get; set; } = new();

    public ProcessRuntimeOptions Process { get; set; } = new();
}

/// <summary>Section <c>Deployer:Docker</c>.</summary>
public sealed class DockerRuntimeOptions
{
    /// <summary>The engine (<c>unix:///var/run/docker.sock</c>, <c>tcp://host:2376</c>). Default: <c>DOCKER_HOST</c>, else the local socket.</summary>
    public string? Host { get; set; }

    /// <summary>The agent image (WrapperImage/Dockerfile, built by scripts/build-agent-image.sh). Default hangar/agent:latest.</summary>
    public string Image { get; set; } = "hangar/agent:latest";

    /// <summary>
    /// <c>bridge</c> (default; the wrapper's port is published on a free port of <see cref="PublishHostIp"/>),
    /// <c>host</c>, or the name of a Docker network that ApiService is on too (compose, a Docker host of a cluster):
    /// the container joins it and is reached by its name, nothing published.
    /// </summary>
    public string NetworkMode { get; set; } = "bridge";

    public string PublishHostIp { get; set; } = "127.0.0.1";

    /// <summary>Memory limit per container. Default 512 MiB.</summary>
    public long MemoryBytes { get; set; } = 512L * 1024 * 1024;

    /// <summary>CPUs per container. Default 1.</summary>
    public double Cpus { get; set; } = 1;
}

/// <summary>Section <c>Deployer:Process</c>.</summary>
public sealed class ProcessRuntimeOptions
{
    /// <summary>The wrapper to run agents under. Default: the <c>hangar-wrapper</c> built next to the Deployer.</summary>
    public string? WrapperPath { get; set; }

    /// <summary>Where bundles are unpacked and instances recorded. Default: a <c>hangar-deployer</c> directory under the temporary directory.</summary>
    public string? DataDirectory { get; set; }
}
