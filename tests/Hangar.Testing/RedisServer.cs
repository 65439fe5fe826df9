using System.Diagnostics;

namespace Hangar.Testing;

/// <summary>
/// A <c>redis-server</c> from the local binaries on a loopback port. With a data directory it keeps an append-only
/// file there (streams survive a restart); without one it persists nothing.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string? _dataDirectory;
    private readonly Action<string, string>? _echo;
    private ChildProcess _process;

    private RedisServer(ChildProcess process, int port, string? dataDirectory, Action<string, string>? echo)
    {
        _process = process;
        Port = port;
        _dataDirectory = dataDirectory;
        _echo = echo;
    }

    public int Port { get; }

    public ChildProcess ServerProcess => _process;

    /// <summary>Aspire's <c>ConnectionStrings__redis</c> value.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <summary>Whether <c>redis-server</c> is on the PATH.</summary>
    public static bool IsInstalled =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "redis-server")));

    public static async Task<RedisServer> StartAsync(
        int? port = null, Action<string, string>? echo = null, string? dataDirectory = null, CancellationToken cancellationToken = default)
    {
        var chosen = port ?? FreePort.Next();
        var process = await LaunchAsync(chosen, dataDirectory, echo, cancellationToken).ConfigureAwait(false);
        return new RedisServer(process, chosen, dataDirectory, echo);
    }

    /// <summary>
    /// Kills the server (SIGKILL, as a crash would), keeps it down for <paramref name="downFor"/> (none by default),
    /// and starts a new one on the same port: with a data directory it reloads its append-only file, without one
    /// everything it held is gone.
    /// </summary>
    public async Task RestartAsync(TimeSpan downFor = default, CancellationToken cancellationToken = default)
    {
        _process.Kill();
        await _process.DisposeAsync().ConfigureAwait(false);
        await Task.Delay(downFor, cancellationToken).ConfigureAwait(false);
        _process = await LaunchAsync(Port, _dataDirectory, _echo, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static async Task<ChildProcess> LaunchAsync(int port, string? dataDirectory, Action<string, string>? echo, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo("redis-server")
        {
            ArgumentList =
            {
                "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--bind", "127.0.0.1",
                "--save", string.Empty,
                "--protected-mode", "yes",
            },
        };
        if (dataDirectory is null)
        {
            startInfo.ArgumentList.Add("--appendonly");
            startInfo.ArgumentList.Add("no");
        }
        else
        {
            Directory.CreateDirectory(dataDirectory);
            foreach (var a in (string[])["--dir", dataDirectory, "--appendonly", "yes"])
            {
                startInfo.ArgumentList.Add(a);
            }
        }

        var process = ChildProcess.Start("redis", startInfo, echo);
        await FreePort.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(10), () => process.RecentOutput(), cancellationToken).ConfigureAwait(false);
        return process;
    }
}
