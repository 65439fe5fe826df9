using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Npgsql;

namespace Hangar.AppHost.Resources;

/// <summary>
/// A server as a container of the local Docker engine: PostgreSQL or Redis on machines that have an engine but not
/// the servers' binaries, and the Aspire dashboard. The container shares the host's network and listens on loopback
/// ports, as a process would; a server's data is in a named volume that belongs to the app's data directory, so a
/// restart finds it again. Its output goes where a process's would. Stopping removes the container, and the volume
/// too when the data is temporary.
/// </summary>
public sealed class ServerContainer : IAsyncDisposable
{
    /// <summary>The label every such container carries, with the data directory's key as its value.</summary>
    public const string Label = "hangar.apphost";

    private readonly DockerClient _docker;
    private readonly string _id;
    private readonly bool _removeVolume;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _logs;

    private ServerContainer(DockerClient docker, string id, string name, string? volume, string endpoint, bool removeVolume, Action<string, string>? echo, string resource)
    {
        _docker = docker;
        _id = id;
        Name = name;
        Volume = volume;
        Endpoint = endpoint;
        _removeVolume = removeVolume;
        _logs = FollowLogsAsync(echo, resource, _stopping.Token);
    }

    public string Name { get; }

    /// <summary>The named volume with the server's data, if it keeps any.</summary>
    public string? Volume { get; }

    /// <summary>A server's connection string (Aspire's <c>ConnectionStrings__{resource}</c> value); the dashboard's URL.</summary>
    public string Endpoint { get; }

    /// <summary>
    /// PostgreSQL from an image that follows the official one's conventions (<c>POSTGRES_PASSWORD</c>,
    /// <c>POSTGRES_DB</c>, settings as arguments), with the <c>hangar</c> database; returns once it accepts connections.
    /// </summary>
    public static async Task<ServerContainer> StartPostgresAsync(
        string image, string dataDirectory, int port, string password, bool temporary, bool fastUnsafe, Action<string, string>? echo, CancellationToken cancellationToken)
    {
        List<string> command =
        [
            "postgres", "-p", Invariant(port), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
            .. fastUnsafe ? ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"] : Array.Empty<string>(),
        ];
        var connectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Password={password};Database=hangar";
        var environment = new Dictionary<string, string> { ["POSTGRES_PASSWORD"] = password, ["POSTGRES_DB"] = "hangar" };
        var server = await StartAsync("postgres", image, dataDirectory, "/var/lib/postgresql/data", command, environment, connectionString, temporary, echo, cancellationToken)
            .ConfigureAwait(false);
        await server.WhenReadyAsync(() => AcceptsConnectionsAsync(connectionString, cancellationToken), TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>Redis from an image that follows the official one's conventions (data in <c>/data</c>, options as arguments), with an append-only file.</summary>
    public static async Task<ServerContainer> StartRedisAsync(
        string image, string dataDirectory, int port, bool temporary, Action<string, string>? echo, CancellationToken cancellationToken)
    {
        string[] command = ["redis-server", "--port", Invariant(port), "--bind", "127.0.0.1", "--appendonly", "yes"];
        var server = await StartAsync("redis", image, dataDirectory, "/data", command, [], $"127.0.0.1:{port}", temporary, echo, cancellationToken)
            .ConfigureAwait(false);
        await server.WhenReadyAsync(() => AnswersPingAsync(port, cancellationToken), TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>
    /// The Aspire dashboard: its frontend on <paramref name="frontendPort"/> behind a browser token, OTLP over gRPC and
    /// HTTP behind an API key (sent as <c>x-otlp-api-key</c>); returns once the frontend answers.
    /// </summary>
    public static async Task<ServerContainer> StartDashboardAsync(
        string image, string dataDirectory, int frontendPort, int otlpGrpcPort, int otlpHttpPort, string browserToken, string otlpApiKey,
        Action<string, string>? echo, CancellationToken cancellationToken)
    {
        var frontend = $"http://127.0.0.1:{frontendPort}";
        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = frontend,
            ["ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL"] = $"http://127.0.0.1:{otlpGrpcPort}",
            ["ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL"] = $"http://127.0.0.1:{otlpHttpPort}",
            ["Dashboard__Frontend__AuthMode"] = "BrowserToken",
            ["Dashboard__Frontend__BrowserToken"] = browserToken,
            ["Dashboard__Otlp__AuthMode"] = "ApiKey",
            ["Dashboard__Otlp__PrimaryApiKey"] = otlpApiKey,
        };
        var server = await StartAsync("dashboard", image, dataDirectory, null, null, environment, frontend, true, echo, cancellationToken).ConfigureAwait(false);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        await server.WhenReadyAsync(() => AnswersHttpAsync(http, frontend, cancellationToken), TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        return server;
    }

    /// <summary>The names of the container and volume that belong to a data directory.</summary>
    public static string NameFor(string resource, string dataDirectory) =>
        $"hangar-{resource}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(dataDirectory))))[..12]}";

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _docker.Containers.StopContainerAsync(_id, new ContainerStopParameters { WaitBeforeKillSeconds = 10 }).ConfigureAwait(false);
            await _logs.ConfigureAwait(false);
            await RemoveContainerAsync(_docker, _id, CancellationToken.None).ConfigureAwait(false);
            if (_removeVolume && Volume is not null)
            {
                await _docker.Volumes.RemoveAsync(Volume, force: false).ConfigureAwait(false);
            }
        }
        finally
        {
            _docker.Dispose();
            _stopping.Dispose();
        }
    }

    private static async Task<ServerContainer> StartAsync(
        string resource, string image, string dataDirectory, string? dataPath, IReadOnlyList<string>? command, Dictionary<string, string> environment,
        string endpoint, bool temporary, Action<string, string>? echo, CancellationToken cancellationToken)
    {
        var docker = await ConnectAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"No Docker engine answers: {resource} needs one to run as a container.");
        try
        {
            try
            {
                await docker.Images.InspectImageAsync(image, cancellationToken).ConfigureAwait(false);
            }
            catch (DockerImageNotFoundException)
            {
                throw new InvalidOperationException($"The Docker engine has no image {image} for {resource}: pull it, or build one (scripts/build-backing-images.sh).");
            }

            var name = NameFor(resource, dataDirectory);
            // A container left by an app that did not stop cleanly holds the name; its data is in the volume.
            await RemoveContainerAsync(docker, name, cancellationToken).ConfigureAwait(false);
            var container = await docker.Containers.CreateContainerAsync(
                new CreateContainerParameters
                {
                    Name = name,
                    Image = image,
                    Cmd = command is null ? null : [.. command],
                    Env = [.. environment.Select(e => $"{e.Key}={e.Value}")],
                    Labels = new Dictionary<string, string> { [Label] = name },
                    StopTimeout = TimeSpan.FromSeconds(10),
                    HostConfig = new HostConfig { NetworkMode = "host", Binds = dataPath is null ? null : [$"{name}:{dataPath}"] },
                },
                cancellationToken).ConfigureAwait(false);
            await docker.Containers.StartContainerAsync(container.ID, new ContainerStartParameters(), cancellationToken).ConfigureAwait(false);
            return new ServerContainer(docker, container.ID, name, dataPath is null ? null : name, endpoint, temporary, echo, resource);
        }
        catch
        {
            docker.Dispose();
            throw;
        }
    }

    /// <summary>The local Docker engine (<c>DOCKER_HOST</c>, else the default socket), or null when none answers.</summary>
    internal static async Task<DockerClient?> ConnectAsync(CancellationToken cancellationToken)
    {
        var docker = new DockerClientBuilder().Build();
        try
        {
            await docker.System.PingAsync(cancellationToken).ConfigureAwait(false);
            return docker;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or System.Net.Sockets.SocketException or DockerApiException)
        {
            docker.Dispose();
            return null;
        }
    }

    /// <summary>Removes a container, killing it first; one already gone is not an error.</summary>
    internal static async Task RemoveContainerAsync(DockerClient docker, string id, CancellationToken cancellationToken)
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

    /// <summary>Polls <paramref name="ready"/>; throws with the container's last output when it exits first or time runs out.</summary>
    private async Task WhenReadyAsync(Func<Task<bool>> ready, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await ready().ConfigureAwait(false))
        {
            var state = (await _docker.Containers.InspectContainerAsync(_id, cancellationToken).ConfigureAwait(false)).State;
            if (state is not { Running: true } || DateTime.UtcNow > deadline)
            {
                var why = state is { Running: false } ? $"exited with code {state.ExitCode}" : $"did not become ready within {timeout.TotalSeconds:0} s";
                var output = new StringBuilder();
                await _docker.Containers.GetContainerLogsAsync(
                    _id, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = "30" }, new Reported(line => output.AppendLine(line)), cancellationToken)
                    .ConfigureAwait(false);

                await DisposeAsync().ConfigureAwait(false);
                throw new InvalidOperationException($"The {Name} container {why}. Its last output:\n{output}");
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task FollowLogsAsync(Action<string, string>? echo, string resource, CancellationToken stopping)
    {
        try
        {
            // The container is new: all of its output, from its first line on.
            await _docker.Containers.GetContainerLogsAsync(
                _id, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Follow = true }, new Reported(line => echo?.Invoke(resource, line)), stopping)
                .ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or DockerApiException or HttpRequestException or IOException)
        {
            // The container stopped, or the app is stopping.
        }
    }

    private static async Task<bool> AcceptsConnectionsAsync(string connectionString, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false;Timeout=2");
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidPassword)
        {
            throw new InvalidOperationException(
                "PostgreSQL's volume holds a database made with another password than the one in the data directory. " +
                "Remove the volume (docker volume rm) to start afresh, or restore the data directory's postgres-password.", ex);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            return false;
        }
    }

    private static async Task<bool> AnswersPingAsync(int port, CancellationToken cancellationToken)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(System.Net.IPAddress.Loopback, port, cancellationToken).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            var reply = new byte[7];
            var read = await stream.ReadAsync(reply, cancellationToken).ConfigureAwait(false);
            return Encoding.ASCII.GetString(reply, 0, read) == "+PONG\r\n";
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static async Task<bool> AnswersHttpAsync(HttpClient http, string url, CancellationToken cancellationToken)
    {
        try
        {
            using var _ = await http.GetAsync(url, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Takes each line the client reports at once, in order (<see cref="Progress{T}"/> would post each to the thread pool).</summary>
    private sealed class Reported(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
