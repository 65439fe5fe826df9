using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Hangar.AppHost;

/// <summary>
/// PostgreSQL and Redis from this machine's own binaries (Debian's <c>postgresql</c> and <c>redis-server</c>), as
/// executable resources listening on loopback with a password, for machines without Docker and for the benchmark,
/// which measures Hangar without container proxies in the way. Aspire's hosting integrations only run containers.
/// </summary>
internal static class ServerBinaries
{
    public static bool PostgresInstalled => PostgresBinDirectory() is not null;

    public static bool RedisInstalled => FindOnPath("redis-server") is not null;

    /// <summary>
    /// A PostgreSQL cluster in <paramref name="dataDirectory"/>, made with <c>initdb</c> before its first start
    /// (password from its parameter, through a file, never on a command line), with the database made once it is up.
    /// As root the server runs as the <c>postgres</c> user, since PostgreSQL refuses to run as root.
    /// </summary>
    public static IResourceBuilder<PostgresBinaryResource> AddPostgresBinaries(
        this IDistributedApplicationBuilder builder, string name, string databaseName, string dataDirectory, bool fastUnsafe)
    {
        var bin = PostgresBinDirectory() ?? throw new InvalidOperationException("PostgreSQL is not installed: apt-get install postgresql.");
        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, $"{name}-password");
        builder.AddResource(password);
        var asPostgres = Environment.UserName == "root";
        string[] server = [Path.Combine(bin, "postgres"), "-D", dataDirectory, "-c", "listen_addresses=127.0.0.1", "-c", $"unix_socket_directories={dataDirectory}"];
        string[] unsafeSettings = fastUnsafe ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : [];
        var resource = new PostgresBinaryResource(name, asPostgres ? "setpriv" : server[0], builder.AppHostDirectory, password, databaseName);

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(resource, async (_, ct) =>
            connectionString = await resource.ServerConnectionString.GetValueAsync(ct).ConfigureAwait(false));
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(resource, async (_, ct) =>
            await InitializeClusterAsync(bin, dataDirectory, await password.GetValueAsync(ct).ConfigureAwait(false) ?? "", asPostgres, ct).ConfigureAwait(false));
        builder.Eventing.Subscribe<ResourceReadyEvent>(resource, async (_, ct) =>
            await CreateDatabaseAsync(connectionString!, databaseName, ct).ConfigureAwait(false));
        var healthCheck = $"{name}_check";
        builder.Services.AddHealthChecks().AddNpgSql(_ => connectionString ?? throw new InvalidOperationException($"{name} has no connection string yet."), name: healthCheck);

        return builder.AddResource(resource)
            .WithArgs(asPostgres ? ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", .. server, .. unsafeSettings] : [.. server[1..], .. unsafeSettings])
            .WithEndpoint(name: PostgresBinaryResource.EndpointName, scheme: "tcp", env: "PGPORT", isProxied: false)
            .WithHealthCheck(healthCheck);
    }

    /// <summary>
    /// A Redis server whose settings, the password among them, are written to a file only its owner reads before
    /// each start; it saves to <paramref name="dataDirectory"/> when <paramref name="persist"/>.
    /// </summary>
    public static IResourceBuilder<RedisBinaryResource> AddRedisBinaries(this IDistributedApplicationBuilder builder, string name, string dataDirectory, bool persist)
    {
        var command = FindOnPath("redis-server") ?? throw new InvalidOperationException("redis-server is not installed: apt-get install redis-server.");
        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, $"{name}-password", special: false);
        builder.AddResource(password);
        var resource = new RedisBinaryResource(name, command, builder.AppHostDirectory, password);
        var settings = Path.Combine(dataDirectory, "redis.conf");

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(resource, async (_, ct) =>
            connectionString = await resource.ConnectionStringExpression.GetValueAsync(ct).ConfigureAwait(false));
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(resource, async (_, ct) =>
        {
            Directory.CreateDirectory(dataDirectory);
            var lines = new[]
            {
                "bind 127.0.0.1",
                $"requirepass \"{await password.GetValueAsync(ct).ConfigureAwait(false)}\"",
                $"dir \"{dataDirectory}\"",
                persist ? "save 60 1" : "save \"\"",
                "appendonly no",
            };
            await File.WriteAllLinesAsync(settings, lines, ct).ConfigureAwait(false);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(settings, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        });
        var healthCheck = $"{name}_check";
        builder.Services.AddHealthChecks().AddRedis(_ => connectionString ?? throw new InvalidOperationException($"{name} has no connection string yet."), name: healthCheck);

        return builder.AddResource(resource)
            .WithEndpoint(name: RedisBinaryResource.EndpointName, scheme: "tcp", isProxied: false)
            .WithArgs(context =>
            {
                context.Args.Add(settings);
                context.Args.Add("--port");
                context.Args.Add(resource.Endpoint.Property(EndpointProperty.TargetPort));
            })
            .WithHealthCheck(healthCheck);
    }

    private static async Task InitializeClusterAsync(string bin, string dataDirectory, string password, bool asPostgres, CancellationToken cancellationToken)
    {
        if (File.Exists(Path.Combine(dataDirectory, "PG_VERSION")))
        {
            return;
        }

        // initdb wants an empty directory, so the password file lives beside it while initdb reads it.
        Directory.CreateDirectory(dataDirectory);
        var passwordFile = Path.Combine(Path.GetTempPath(), $"hangar-initdb-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(passwordFile, password, cancellationToken).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        try
        {
            if (asPostgres)
            {
                await RunAsync("chown", ["-R", "postgres:postgres", dataDirectory, passwordFile], cancellationToken).ConfigureAwait(false);
            }

            string[] initdb = [Path.Combine(bin, "initdb"), "-D", dataDirectory, "--username=postgres", $"--pwfile={passwordFile}",
                "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"];
            await (asPostgres
                ? RunAsync("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", .. initdb], cancellationToken)
                : RunAsync(initdb[0], initdb[1..], cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(passwordFile);
        }
    }

    private static async Task CreateDatabaseAsync(string serverConnectionString, string databaseName, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(serverConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = @name", connection) { Parameters = { new("name", databaseName) } };
        if (await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is null)
        {
            await using var create = new NpgsqlCommand($"create database \"{databaseName.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", connection);
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task RunAsync(string program, string[] args, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} failed with code {process.ExitCode}: {await output.ConfigureAwait(false)}{await errors.ConfigureAwait(false)}");
        }
    }

    private static string? PostgresBinDirectory() =>
        Directory.Exists("/usr/lib/postgresql")
            ? Directory.EnumerateDirectories("/usr/lib/postgresql")
                .Select(version => Path.Combine(version, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "initdb")))
                .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out var major) ? major : 0)
                .FirstOrDefault()
            : null;

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(File.Exists);
}

/// <summary>A PostgreSQL server run from the machine's binaries; its connection string names the database.</summary>
internal sealed class PostgresBinaryResource(string name, string command, string workingDirectory, ParameterResource password, string databaseName)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    public EndpointReference Endpoint => new(this, EndpointName);

    /// <summary>The <c>postgres</c> database, to create the stack's own in.</summary>
    public ReferenceExpression ServerConnectionString => ReferenceExpression.Create(
        $"Host={Endpoint.Property(EndpointProperty.Host)};Port={Endpoint.Property(EndpointProperty.Port)};Username=postgres;Password={password};Database=postgres");

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Host={Endpoint.Property(EndpointProperty.Host)};Port={Endpoint.Property(EndpointProperty.Port)};Username=postgres;Password={password};Database={databaseName}");
}

/// <summary>A Redis server run from the machine's binary, in StackExchange.Redis's connection string format.</summary>
internal sealed class RedisBinaryResource(string name, string command, string workingDirectory, ParameterResource password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    public EndpointReference Endpoint => new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"{Endpoint.Property(EndpointProperty.Host)}:{Endpoint.Property(EndpointProperty.Port)},password={password}");
}
