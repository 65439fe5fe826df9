namespace Hangar.ApiService;

/// <summary>ApiService settings, section <c>Hangar</c> (environment: <c>Hangar__SigningKey</c>, …).</summary>
public sealed class HangarOptions
{
    public const string Section = "Hangar";

    /// <summary>Base64 secret (32 bytes or more) that signs stream tickets and invocation tokens; StreamHub needs the same.</summary>
    public string? SigningKey { get; set; }

    /// <summary>An API key to accept from the first start on, so scripts and tests can use a known key. Optional.</summary>
    public string? BootstrapApiKey { get; set; }

    /// <summary>The URL clients use to reach StreamHub. Default: Aspire's <c>services:streamhub</c> endpoint.</summary>
    public string? StreamHubUrl { get; set; }

    /// <summary>How long a stream ticket is valid. Default 10 minutes.</summary>
    public TimeSpan StreamTicketLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest accepted JSON of one message (parts and metadata). Default 1 MiB.</summary>
    public int MaxMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Approximate number of entries kept in a chat's Redis stream (XADD MAXLEN ~), each holding one event or, in a fast
    /// burst of chunks, up to 16. Default 100,000: room for a long reply from a fast agent to a slower client (a chunk
    /// event is about 100 bytes in Redis).
    /// </summary>
    public int StreamMaxLength { get; set; } = 100_000;

    /// <summary>How long a chat's Redis stream is kept after its last event; a client that resumes later gets a <c>reset</c>. Default 1 hour.</summary>
    public TimeSpan StreamIdleTimeToLive { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>Control loop settings, section <c>Hangar:Runs</c>.</summary>
public sealed class RunOptions
{
    public const string Section = "Hangar:Runs";

    /// <summary>How long a claimed run stays owned without a heartbeat. Another replica takes it over after that. Default 15 s.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often the owner renews its lease and re-checks for stop or interrupt. Default 5 s.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Safety-net polling for runs when no wake-up signal arrives. Default 2 s.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Runs one replica executes at once. Default 64.</summary>
    public int MaxConcurrentRuns { get; set; } = 64;

    /// <summary>Agent calls in one run before it fails with "step limit reached". Default 25.</summary>
    public int MaxStepsPerRun { get; set; } = 25;

    /// <summary>Time to open the TCP connection to the agent. Default 5 s.</summary>
    public TimeSpan AgentConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time from sending the request to the first chunk of the reply. Default 60 s.</summary>
    public TimeSpan AgentFirstByteTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest silence between two chunks of a reply. Default 120 s.</summary>
    public TimeSpan AgentIdleTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>How long an invocation token is valid. Default 1 hour.</summary>
    public TimeSpan InvocationTokenLifetime { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>Deployment settings, section <c>Hangar:Deployments</c>.</summary>
public sealed class DeploymentOptions
{
    public const string Section = "Hangar:Deployments";

    /// <summary>The runtime of an uploaded bundle that names none: <c>docker</c> or <c>process</c>. Default docker.</summary>
    public string DefaultRuntime { get; set; } = "docker";

    /// <summary>Largest accepted upload (the archive as sent). Default 64 MiB.</summary>
    public long MaxUploadBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Largest bundle once unpacked. Default 256 MiB.</summary>
    public long MaxUnpackedBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Most files in one bundle. Default 10,000.</summary>
    public int MaxFiles { get; set; } = 10_000;

    /// <summary>How long a bundle that no deployment refers to is kept after its last use. Default 1 day.</summary>
    public TimeSpan UnusedBundleRetention { get; set; } = TimeSpan.FromDays(1);
}
