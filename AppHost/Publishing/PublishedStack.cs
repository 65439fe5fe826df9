namespace Hangar.AppHost.Publishing;

/// <summary>What <c>publish</c> is asked for (<c>dotnet run --project AppHost -- publish compose --output …</c>).</summary>
public sealed class PublishOptions
{
    /// <summary>The directory the files go to. Default <c>artifacts/publish/{target}</c> under the repository.</summary>
    public string? Output { get; set; }

    /// <summary>Image names are <c>{ImagePrefix}{service}:{ImageTag}</c>. Default <c>hangar/</c> and <c>latest</c>.</summary>
    public string ImagePrefix { get; set; } = "hangar/";

    public string ImageTag { get; set; } = "latest";

    /// <summary>The image agents run in (WrapperImage/Dockerfile).</summary>
    public string AgentImage { get; set; } = "hangar/agent:latest";

    /// <summary>StreamHub's URL as clients reach it: it is put in the stream links ApiService hands out.</summary>
    public string? PublicStreamHubUrl { get; set; }

    /// <summary>An external PostgreSQL instead of one in the stack (Npgsql connection string).</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>An external Redis instead of one in the stack (<c>host:port[,password=…]</c>).</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Kubernetes only: the Docker engine the Deployer drives (<c>tcp://host:2376</c>, TLS from the <c>hangar-docker-tls</c> secret).</summary>
    public string DockerHost { get; set; } = "tcp://docker-host:2376";

    /// <summary>Kubernetes only: ApiService's URL as agents on that Docker host reach it.</summary>
    public string? AgentApiUrl { get; set; }

    /// <summary>Kubernetes only: the Docker host's address as ApiService reaches the agents' published ports.</summary>
    public string? DockerAdvertisedHost { get; set; }

    /// <summary>Write the Dockerfiles and files only, without <c>dotnet publish</c> of the services into their build contexts.</summary>
    public bool SkipBuild { get; set; }
}

/// <summary>A setting of a service: a plain value, or the name of a <see cref="PublishedStack.Secrets"/> entry.</summary>
public sealed record Setting(string Name, string? Value = null, string? Secret = null);

/// <summary>One Hangar service as a container: its project (and Dockerfile), replicas, settings and what it waits for.</summary>
public sealed record PublishedService(
    string Name, string Project, int Replicas, IReadOnlyList<Setting> Settings, IReadOnlyList<string> DependsOn, int? PublicPort)
{
    public bool DrivesDocker => Project == "Deployer";
}

/// <summary>
/// The stack both publishers write, wired as the AppHost wires it locally: PostgreSQL and Redis (in the
/// stack, or external), StreamHub, ApiService and the Deployer on port 8080 of their containers, with
/// <c>/health</c> (ready: dependencies answer) and <c>/alive</c> (the process answers). Secrets are generated once
/// per publish; the compose file reads them from <c>.env</c>, the manifests from a Secret.
/// </summary>
public sealed class PublishedStack
{
    public const int HttpPort = 8080;
    public const string Network = "hangar";
    public const string SigningKey = "HANGAR_SIGNING_KEY";
    public const string ApiKey = "HANGAR_API_KEY";
    public const string PostgresPassword = "POSTGRES_PASSWORD";
    public const string PostgresConnection = "POSTGRES_CONNECTION_STRING";
    public const string RedisConnection = "REDIS_CONNECTION_STRING";

    public PublishedStack(PublishOptions options, string streamHubUrl, string apiUrlForAgents, IEnumerable<Setting> deployerSettings)
    {
        Options = options;
        var password = GeneratedSecrets.Password();
        Secrets = new Dictionary<string, string>
        {
            [SigningKey] = GeneratedSecrets.SigningKey(),
            [ApiKey] = GeneratedSecrets.ApiKey(),
            [PostgresConnection] = options.PostgresConnectionString ?? $"Host=postgres;Port=5432;Username=postgres;Password={password};Database=hangar",
            [RedisConnection] = options.RedisConnectionString ?? "redis:6379",
        };
        if (HasPostgres)
        {
            Secrets[PostgresPassword] = password;
        }

        string[] backing = [.. HasPostgres ? ["postgres"] : Array.Empty<string>(), .. HasRedis ? ["redis"] : Array.Empty<string>()];
        Setting[] shared = [new("ConnectionStrings__redis", Secret: RedisConnection), new("Hangar__SigningKey", Secret: SigningKey)];
        Services =
        [
            new("streamhub", "StreamHub", 2, shared, [.. backing.Where(b => b == "redis")], 5081),
            new("apiservice", "ApiService", 2,
                [
                    new("ConnectionStrings__postgres", Secret: PostgresConnection), .. shared,
                    new("Hangar__BootstrapApiKey", Secret: ApiKey),
                    new("services__streamhub__http__0", streamHubUrl),
                    new("Hangar__Deployments__DefaultRuntime", "docker"),
                ],
                [.. backing, "streamhub"], 5080),
            new("deployer", "Deployer", 1,
                [
                    new("ConnectionStrings__postgres", Secret: PostgresConnection), new("Hangar__SigningKey", Secret: SigningKey),
                    new("services__apiservice__http__0", apiUrlForAgents),
                    new("Deployer__Runtime", "docker"),
                    new("Deployer__Docker__Image", options.AgentImage),
                    .. deployerSettings,
                ],
                ["apiservice"], null),
        ];
    }

    public PublishOptions Options { get; }

    public Dictionary<string, string> Secrets { get; }

    public IReadOnlyList<PublishedService> Services { get; }

    public bool HasPostgres => Options.PostgresConnectionString is null;

    public bool HasRedis => Options.RedisConnectionString is null;

    public string ImageOf(PublishedService service) => $"{Options.ImagePrefix}{service.Name}:{Options.ImageTag}";
}
