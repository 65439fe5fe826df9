using System.Diagnostics;

namespace Hangar.AppHost.Resources;

/// <summary>A <c>redis-server</c> from the local binaries, on a loopback port, persisting nothing.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private ChildProcess _process;

    private RedisServer(ChildProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Aspire's <c>ConnectionStrings__redis</c> value.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync(int? port = null, Action<string, string>? echo = null, CancellationToken cancellationToken = default)
    {
        var chosen = port ?? FreePort.Next();
        var process = await LaunchAsync(chosen, echo, cancellationToken).ConfigureAwait(false);
        return new RedisServer(process, chosen);
    }

    /// <summary>Kills the server and starts a new one on the same port: everything it held is gone.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        _process.Kill();
        await _process.DisposeAsync().ConfigureAwait(false);
        _process = await LaunchAsync(Port, echo: null, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static async Task<ChildProcess> LaunchAsync(int port, Action<string, string>? echo, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo("redis-server")
        {
            ArgumentList =
            {
                "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--bind", "127.0.0.1",
                "--save", string.Empty,
                "--appendonly", "no",
                "--protected-mode", "yes",
            },
        };
        var process = ChildProcess.Start("redis", startInfo, echo);
        await FreePort.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(10), () => process.RecentOutput(), cancellationToken).ConfigureAwait(false);
        return process;
    }
}
