using static Hangar.AppHost.Publishing.Yaml;

namespace Hangar.AppHost.Publishing;

/// <summary>
/// <c>publish compose</c>: a <c>docker-compose.yml</c> with PostgreSQL and Redis (images, volumes, health checks), the
/// three services built from their Dockerfiles, started in dependency order once what they need is healthy, and the
/// Docker socket mounted into the Deployer only; agents run on the stack's network, where ApiService reaches them by
/// name. The generated secrets go to <c>.env</c>, which compose reads.
/// </summary>
public static class ComposePublisher
{
    private const string BaseImage = "${HANGAR_BASE_IMAGE:-mcr.microsoft.com/dotnet/aspnet:10.0}";

    /// <summary>The network the stack and its agents share: <c>hangar</c>, or <c>HANGAR_NETWORK</c> from the environment or <c>.env</c>.</summary>
    private const string Network = $"${{HANGAR_NETWORK:-{PublishedStack.Network}}}";

    public static PublishedStack Stack(PublishOptions options) => new(
        options,
        options.PublicStreamHubUrl ?? $"http://localhost:{PortOf("streamhub", 5081)}",
        $"http://apiservice:{PublishedStack.HttpPort}",
        [new("Deployer__Docker__NetworkMode", Network)]);

    /// <summary>A public port that <c>HANGAR_APISERVICE_PORT</c> (or <c>HANGAR_STREAMHUB_PORT</c>) overrides.</summary>
    private static string PortOf(string service, int port) => $"${{HANGAR_{service.ToUpperInvariant()}_PORT:-{port}}}";

    public static async Task<string> WriteAsync(PublishOptions options, CancellationToken cancellationToken)
    {
        var output = Path.GetFullPath(options.Output!);
        var stack = Stack(options);
        await ServiceImages.PrepareAsync(stack, output, cancellationToken).ConfigureAwait(false);

        var services = new OrderedDictionary<string, object>();
        if (stack.HasPostgres)
        {
            services["postgres"] = Map(
                ("image", "${POSTGRES_IMAGE:-postgres:15}"),
                ("environment", Map(
                    ("POSTGRES_USER", "postgres"), ("POSTGRES_DB", "hangar"),
                    ("POSTGRES_PASSWORD", $"${{{PublishedStack.PostgresPassword}:?run publish compose again, or set it in .env}}"))),
                ("volumes", new[] { "postgres-data:/var/lib/postgresql/data" }),
                ("healthcheck", Health(["CMD-SHELL", "pg_isready -U postgres -d hangar"])),
                ("restart", "unless-stopped"));
        }

        if (stack.HasRedis)
        {
            services["redis"] = Map(
                ("image", "${REDIS_IMAGE:-redis:7}"),
                ("command", new[] { "redis-server", "--appendonly", "yes" }),
                ("volumes", new[] { "redis-data:/data" }),
                ("healthcheck", Health(["CMD", "redis-cli", "ping"])),
                ("restart", "unless-stopped"));
        }

        foreach (var service in stack.Services)
        {
            services[service.Name] = Map(
                ("build", Map(("context", $"./images/{service.Name}"), ("args", Map(("BASE_IMAGE", BaseImage))))),
                ("image", stack.ImageOf(service)),
                ("environment", EnvironmentOf(service)),
                ("ports", service.PublicPort is { } port
                    ? new[] { $"${{HANGAR_BIND_ADDRESS:-127.0.0.1}}:{PortOf(service.Name, port)}:{PublishedStack.HttpPort}" }
                    : null),
                ("volumes", service.DrivesDocker ? new[] { "/var/run/docker.sock:/var/run/docker.sock" } : null),
                ("depends_on", service.DependsOn.Count == 0 ? null : new OrderedDictionary<string, object>(
                    service.DependsOn.Select(d => KeyValuePair.Create(d, (object)Map(("condition", "service_healthy")))))),
                ("healthcheck", Health(["CMD", "bash", "-c", HealthProbe])),
                ("restart", "unless-stopped"));
        }

        var document = Map(
            ("services", services),
            ("networks", Map(("default", Map(("name", Network))))),
            ("volumes", stack.HasPostgres || stack.HasRedis
                ? Map(("postgres-data", stack.HasPostgres ? new OrderedDictionary<string, object>() : null), ("redis-data", stack.HasRedis ? new OrderedDictionary<string, object>() : null))
                : null));

        var file = Path.Combine(output, "docker-compose.yml");
        await File.WriteAllTextAsync(file, $"""
            # Hangar, written by `dotnet run --project AppHost -- publish compose`. Start it with `docker-compose up -d`
            # (or `docker compose up -d`) in this directory; the API key is HANGAR_API_KEY in .env. ApiService answers on
            # port 5080 (HANGAR_APISERVICE_PORT), StreamHub on 5081 (HANGAR_STREAMHUB_PORT), both on 127.0.0.1 unless
            # HANGAR_BIND_ADDRESS says otherwise; agents join the network HANGAR_NETWORK (default hangar).
            {Write(document)}
            """, cancellationToken).ConfigureAwait(false);
        await File.WriteAllLinesAsync(
            Path.Combine(output, ".env"),
            ["# Generated by publish compose: keep it private.", .. stack.Secrets.Select(s => $"{s.Key}={s.Value}")],
            cancellationToken).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path.Combine(output, ".env"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return file;
    }

    /// <summary>An HTTP GET of <c>/health</c> with bash alone, since service images need not have curl.</summary>
    private const string HealthProbe =
        "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '";

    private static OrderedDictionary<string, object> Health(string[] test) =>
        Map(("test", test), ("interval", "2s"), ("timeout", "5s"), ("retries", 30), ("start_period", "5s"));

    private static OrderedDictionary<string, object> EnvironmentOf(PublishedService service) =>
        new(service.Settings.Select(s => KeyValuePair.Create(s.Name, (object)(s.Secret is { } secret ? $"${{{secret}}}" : s.Value!))));
}
