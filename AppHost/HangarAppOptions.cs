namespace Hangar.AppHost;

/// <summary>
/// What the composition starts and how (configuration section <c>AppHost</c>: <c>AppHost__ApiPort=5080</c>,
/// <c>--AppHost:DataDirectory=/srv/hangar</c>, …). Everything left unset gets a working default.
/// </summary>
public sealed class HangarAppOptions
{
    public const string Section = "AppHost";

    /// <summary>
    /// Where PostgreSQL and Redis keep their data and where the generated signing key and API key are kept, so a
    /// restart finds everything again. Unset: a temporary directory that is deleted when the app stops.
    /// </summary>
    public string? DataDirectory { get; set; }

    /// <summary>The first ApiService replica's port; further replicas take the next ones. Unset: a free port.</summary>
    public int? ApiPort { get; set; }

    /// <summary>ApiService processes to run against the same database. Default 1.</summary>
    public int ApiReplicas { get; set; } = 1;

    /// <summary>The first StreamHub replica's port; further replicas take the next ones. Unset: a free port.</summary>
    public int? StreamHubPort { get; set; }

    /// <summary>StreamHub processes against the same Redis; clients can resume on any. Default 1.</summary>
    public int StreamHubReplicas { get; set; } = 1;

    /// <summary>Port of the embedded PostgreSQL. Unset: a free port.</summary>
    public int? PostgresPort { get; set; }

    /// <summary>Port of the embedded Redis. Unset: a free port.</summary>
    public int? RedisPort { get; set; }

    /// <summary>
    /// How the embedded PostgreSQL runs: <c>binaries</c> (the local server's, as a child process), <c>container</c>
    /// (<see cref="PostgresImage"/> on the local Docker engine, data in a named volume) or <c>auto</c> (default:
    /// the binaries when installed, a container otherwise). Ignored when <see cref="PostgresConnectionString"/> is set.
    /// </summary>
    public string Postgres { get; set; } = "auto";

    /// <summary>How the embedded Redis runs, as <see cref="Postgres"/>: <c>binaries</c>, <c>container</c> or <c>auto</c>.</summary>
    public string Redis { get; set; } = "auto";

    /// <summary>The image of a containerized PostgreSQL: the official one's conventions. Default <c>postgres:15</c>.</summary>
    public string PostgresImage { get; set; } = "postgres:15";

    /// <summary>The image of a containerized Redis: the official one's conventions. Default <c>redis:7</c>.</summary>
    public string RedisImage { get; set; } = "redis:7";

    /// <summary>An external PostgreSQL (Npgsql connection string, database created beforehand) instead of the embedded one.</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>An external Redis (<c>host:port[,password=…]</c>) instead of the embedded one.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>The API key accepted from the first start. Unset: generated once and kept in the data directory.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Base64 secret shared by the services. Unset: generated once and kept in the data directory.</summary>
    public string? SigningKey { get; set; }

    /// <summary>
    /// The Deployer's runtime: <c>docker</c>, <c>process</c>, <c>auto</c> (default: Docker when its engine answers,
    /// processes otherwise) or <c>none</c> (no Deployer: only external deployments run).
    /// </summary>
    public string DeployerRuntime { get; set; } = "auto";

    /// <summary>
    /// Where every service sends traces, metrics and logs over OTLP (an Aspire dashboard, Jaeger, a collector).
    /// <c>dotnet run --project AppHost</c> takes it from <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>. Unset: no export.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>grpc</c> or <c>http/protobuf</c> (default), as <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>.</summary>
    public string OtlpProtocol { get; set; } = "http/protobuf";

    /// <summary>
    /// Start the Aspire dashboard as a container and send every service's telemetry to it, when no
    /// <see cref="OtlpEndpoint"/> is given and the Docker engine has <see cref="DashboardImage"/> (default true).
    /// </summary>
    public bool Dashboard { get; set; } = true;

    public string DashboardImage { get; set; } = "mcr.microsoft.com/dotnet/aspire-dashboard:latest";

    /// <summary>The dashboard's frontend port; its OTLP endpoints take the next two (gRPC, then HTTP). Unset: free ports.</summary>
    public int? DashboardPort { get; set; }

    /// <summary>Restart a service whose process exits while the app runs (default), or only report it.</summary>
    public bool RestartCrashedServices { get; set; } = true;

    /// <summary>Trade PostgreSQL durability for speed (fsync off): for tests, whose data is thrown away.</summary>
    public bool FastUnsafePostgres { get; set; }

    /// <summary>More environment for every service, e.g. <c>Hangar__Runs__LeaseDuration</c> or <c>OTEL_*</c>.</summary>
    public Dictionary<string, string> Environment { get; set; } = [];

    /// <summary>
    /// More environment for one service, by resource name (<c>apiservice-1</c>), over <see cref="Environment"/>: a
    /// replica set up unlike the others.
    /// </summary>
    public Dictionary<string, Dictionary<string, string>> ResourceEnvironment { get; set; } = [];
}
