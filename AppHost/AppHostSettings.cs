using Microsoft.Extensions.Configuration;

namespace Hangar.AppHost;

/// <summary>
/// How the AppHost composes the stack, section <c>AppHost</c> (<c>AppHost__ApiReplicas=2</c>,
/// <c>--AppHost:Servers=official-images</c>, …). Every setting has a working default on a machine that ran
/// <c>scripts/prerequisites.sh</c>.
/// </summary>
internal sealed class AppHostSettings
{
    public const string Section = "AppHost";

    /// <summary>ApiService's port (one proxy in front of every replica). Default 5080.</summary>
    public int ApiPort { get; set; } = 5080;

    /// <summary>StreamHub's port (one proxy in front of every replica). Default 5081.</summary>
    public int StreamHubPort { get; set; } = 5081;

    public int ApiReplicas { get; set; } = 1;

    public int StreamHubReplicas { get; set; } = 1;

    /// <summary>
    /// Where PostgreSQL and Redis come from: <c>binaries</c> (this machine's own, as executables on loopback, data in
    /// <see cref="DataDirectory"/>), <c>local-images</c> (<c>hangar/postgres:15</c> and <c>hangar/redis:7</c>,
    /// which <c>scripts/build-backing-images.sh</c> builds without a registry, never pulled), <c>official-images</c>
    /// (Aspire's defaults, pulled from Docker Hub) or <c>auto</c> (default: the local images when the engine has them,
    /// the binaries when no engine answers).
    /// A connection string <c>ConnectionStrings:postgres</c> or <c>ConnectionStrings:redis</c> uses that server instead.
    /// </summary>
    public string Servers { get; set; } = "auto";

    /// <summary>Keep PostgreSQL's and Redis's data between runs (default), in named volumes or <see cref="DataDirectory"/>. Off: gone with the run.</summary>
    public bool DataVolumes { get; set; } = true;

    /// <summary>Where the binaries keep their data (<c>postgres/</c>, <c>redis/</c>). Default: <c>.data/</c> in the repository.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>
    /// Names the data volumes <c>{prefix}-postgres-data</c> and <c>{prefix}-redis-data</c> instead of Aspire's names
    /// (which derive from the AppHost's path): a stack of its own, such as a test's, on the same machine.
    /// </summary>
    public string? DataVolumePrefix { get; set; }

    /// <summary>Trade PostgreSQL's durability for speed (fsync off): for tests, whose data is thrown away.</summary>
    public bool FastUnsafePostgres { get; set; }

    /// <summary>
    /// The Deployer's runtime: <c>docker</c>, <c>process</c>, <c>auto</c> (default: Docker when its engine answers,
    /// processes otherwise) or <c>none</c> (no Deployer: only external deployments run).
    /// </summary>
    public string DeployerRuntime { get; set; } = "auto";

    /// <summary>Why <see cref="DeployerRuntimeAsync"/> chose what it chose, when it chose.</summary>
    public string DeployerRuntimeReason { get; private set; } = "";

    public static AppHostSettings From(IConfiguration configuration)
    {
        var settings = configuration.GetSection(Section).Get<AppHostSettings>() ?? new AppHostSettings();
        string[] servers = ["auto", "local-images", "official-images", "binaries"];
        string[] runtimes = ["auto", "docker", "process", "none"];
        return !servers.Contains(settings.Servers)
            ? throw new InvalidOperationException($"AppHost:Servers is '{settings.Servers}': use {string.Join(", ", servers)}.")
            : !runtimes.Contains(settings.DeployerRuntime)
            ? throw new InvalidOperationException($"AppHost:DeployerRuntime is '{settings.DeployerRuntime}': use {string.Join(", ", runtimes)}.")
            : settings.ApiReplicas < 1 || settings.StreamHubReplicas < 1
            ? throw new InvalidOperationException("AppHost:ApiReplicas and AppHost:StreamHubReplicas are 1 or more.")
            : settings;
    }

    /// <summary><see cref="DataDirectory"/>, or a directory of this run's own when data is not kept.</summary>
    public string DataDirectoryFor(IDistributedApplicationBuilder builder) => _dataDirectory ??=
        !DataVolumes ? Path.Combine(Path.GetTempPath(), "hangar-" + Guid.NewGuid().ToString("N")[..12])
        : Path.GetFullPath(DataDirectory ?? Path.Combine(builder.AppHostDirectory, "..", ".data"));

    private string? _dataDirectory;

    /// <summary><see cref="DeployerRuntime"/>, with <c>auto</c> resolved by asking the Docker engine.</summary>
    public async Task<string> DeployerRuntimeAsync()
    {
        if (DeployerRuntime is not "auto")
        {
            return DeployerRuntime;
        }

        using var docker = await LocalDocker.ConnectAsync().ConfigureAwait(false);
        DeployerRuntimeReason = docker is null ? " (auto: no Docker engine answers)" : " (auto: the Docker engine answers)";
        return docker is null ? "process" : "docker";
    }
}
