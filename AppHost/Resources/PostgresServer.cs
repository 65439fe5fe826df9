using System.Diagnostics;
using System.Globalization;

namespace Hangar.AppHost.Resources;

/// <summary>
/// A PostgreSQL server from the local binaries: <c>initdb</c> into a data directory (once), then <c>postgres</c> on a
/// loopback port as a child process. PostgreSQL refuses to run as root, so under root both run as the
/// <c>postgres</c> user, which then owns the data directory.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _dataDirectory;
    private readonly bool _fastUnsafe;
    private readonly Action<string, string>? _echo;
    private ChildProcess _process;

    private PostgresServer(string dataDirectory, int port, bool fastUnsafe, Action<string, string>? echo, ChildProcess process)
    {
        _dataDirectory = dataDirectory;
        _fastUnsafe = fastUnsafe;
        Port = port;
        _echo = echo;
        _process = process;
    }

    public int Port { get; }

    public string DataDirectory => _dataDirectory;

    public ChildProcess ServerProcess => _process;

    public string DatabaseName => "hangar";

    /// <summary>Aspire's <c>ConnectionStrings__postgres</c> value.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={DatabaseName}";

    /// <summary>Starts a server on the data directory, running <c>initdb</c> first when it is empty.</summary>
    public static async Task<PostgresServer> StartAsync(
        string directory, int? port = null, bool fastUnsafe = false, Action<string, string>? echo = null, CancellationToken cancellationToken = default)
    {
        var chosen = port ?? FreePort.Next();
        Directory.CreateDirectory(directory);
        var bin = FindBinDirectory();
        if (!File.Exists(Path.Combine(directory, "PG_VERSION")))
        {
            await InitDbAsync(bin, directory, cancellationToken).ConfigureAwait(false);
        }

        var process = await LaunchAsync(bin, directory, chosen, fastUnsafe, echo, cancellationToken).ConfigureAwait(false);
        var server = new PostgresServer(directory, chosen, fastUnsafe, echo, process);
        await server.CreateDatabaseAsync(bin, cancellationToken).ConfigureAwait(false);
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _process.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        await _process.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Crashes the server and starts it again on the same port and data. The postmaster gets SIGQUIT, PostgreSQL's
    /// immediate shutdown: every backend ends at once, connections break, nothing is checkpointed, and the next start
    /// runs crash recovery. SIGKILL is not used: under root the postmaster runs below <c>runuser</c>, and killing that
    /// tree leaves it a zombie nobody reaps, whose pid in <c>postmaster.pid</c> keeps the new server from starting.
    /// The server stays down for <paramref name="downFor"/> (none by default).
    /// </summary>
    public async Task RestartAsync(TimeSpan downFor = default, CancellationToken cancellationToken = default)
    {
        var postmaster = PostmasterPid() ?? _process.Id;
        _ = Posix.Kill(postmaster, Posix.SigQuit);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }

        await _process.DisposeAsync().ConfigureAwait(false);
        await Task.Delay(downFor, cancellationToken).ConfigureAwait(false);
        _process = await LaunchAsync(FindBinDirectory(), _dataDirectory, Port, _fastUnsafe, _echo, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The running postmaster's pid: the first line of <c>postmaster.pid</c>.</summary>
    private int? PostmasterPid()
    {
        var lockFile = Path.Combine(_dataDirectory, "postmaster.pid");
        return File.Exists(lockFile) && int.TryParse(File.ReadLines(lockFile).FirstOrDefault(), CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    /// <summary>Whether this machine has the server's binaries.</summary>
    public static bool IsInstalled => TryFindBinDirectory() is not null;

    private static string FindBinDirectory() => TryFindBinDirectory()
        ?? throw new InvalidOperationException("PostgreSQL is not installed: neither pg_config --bindir nor /usr/lib/postgresql/*/bin has initdb.");

    private static string? TryFindBinDirectory()
    {
        var fromPgConfig = TryRun("pg_config", "--bindir");
        if (fromPgConfig is not null && File.Exists(Path.Combine(fromPgConfig, "initdb")))
        {
            return fromPgConfig;
        }

        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin"))
            : [];
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")));
    }

    private static async Task InitDbAsync(string bin, string directory, CancellationToken cancellationToken)
    {
        ChownToPostgres(directory);
        var startInfo = AsPostgresUser(Path.Combine(bin, "initdb"), ["-D", directory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"]);
        await using var initdb = ChildProcess.Start("initdb", startInfo);
        await initdb.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (initdb.ExitCode != 0)
        {
            throw new InvalidOperationException($"initdb failed ({initdb.ExitCode}):\n{initdb.RecentOutput()}");
        }
    }

    private static async Task<ChildProcess> LaunchAsync(string bin, string directory, int port, bool fastUnsafe, Action<string, string>? echo, CancellationToken cancellationToken)
    {
        List<string> args =
        [
            "-D", directory,
            "-p", port.ToString(CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1",
            "-c", $"unix_socket_directories={directory}",
            "-c", "max_connections=200",
        ];
        if (fastUnsafe)
        {
            // Tests trade durability for speed; the data is thrown away anyway.
            args.AddRange(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
        }

        var process = ChildProcess.Start("postgres", AsPostgresUser(Path.Combine(bin, "postgres"), args), echo);
        await FreePort.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(30), () => process.RecentOutput(), cancellationToken).ConfigureAwait(false);
        return process;
    }

    private async Task CreateDatabaseAsync(string bin, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var startInfo = AsPostgresUser(Path.Combine(bin, "psql"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", "postgres", "-tAc",
                $"select 1 from pg_database where datname = '{DatabaseName}'"]);
            await using var check = ChildProcess.Start("psql", startInfo);
            await check.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            if (check.ExitCode == 0)
            {
                if (check.RecentOutput().Trim() == "1")
                {
                    return;
                }

                break;
            }

            // "the database system is starting up": the port listens before connections are accepted.
            if (attempt > 100)
            {
                throw new InvalidOperationException($"PostgreSQL did not accept connections:\n{check.RecentOutput()}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        await using var create = ChildProcess.Start("createdb", AsPostgresUser(Path.Combine(bin, "createdb"), ["-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", DatabaseName]));
        await create.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (create.ExitCode != 0)
        {
            throw new InvalidOperationException($"createdb failed:\n{create.RecentOutput()}");
        }
    }

    private static ProcessStartInfo AsPostgresUser(string program, IEnumerable<string> args)
    {
        var startInfo = new ProcessStartInfo(Posix.IsRoot ? "runuser" : program);
        if (Posix.IsRoot)
        {
            foreach (var a in (string[])["-u", "postgres", "--", program])
            {
                startInfo.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            startInfo.ArgumentList.Add(a);
        }

        return startInfo;
    }

    private static void ChownToPostgres(string directory)
    {
        if (OperatingSystem.IsWindows() || !Posix.IsRoot)
        {
            return;
        }

        using var chown = Process.Start("chown", ["-R", "postgres:postgres", directory]);
        chown.WaitForExit();
        // Parent directories must be traversable by the postgres user.
        for (var dir = Path.GetDirectoryName(directory); !string.IsNullOrEmpty(dir) && dir != "/"; dir = Path.GetDirectoryName(dir))
        {
            File.SetUnixFileMode(dir, File.GetUnixFileMode(dir) | UnixFileMode.OtherExecute);
        }
    }

    private static string? TryRun(string program, string args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardOutput = true, UseShellExecute = false });
            var output = process!.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
