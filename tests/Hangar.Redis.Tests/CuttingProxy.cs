using System.Net;
using System.Net.Sockets;

namespace Hangar.Redis.Tests;

/// <summary>
/// A TCP proxy in front of a Redis server that can stop reading from its clients, so their writes back up and stay
/// pending, and then cut their connections the way a dying server would. Connections made after a cut pass through.
/// </summary>
internal sealed class CuttingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly Lock _gate = new();
    private readonly List<(Socket Client, Socket Server, CancellationTokenSource Upstream)> _connections = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _accepting;

    public CuttingProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Stops reading what the current clients send.</summary>
    public void Stall()
    {
        lock (_gate)
        {
            _connections.ForEach(c => c.Upstream.Cancel());
        }
    }

    /// <summary>Resets the current connections.</summary>
    public void Cut()
    {
        lock (_gate)
        {
            foreach (var (client, server, _) in _connections)
            {
                client.LingerState = new LingerOption(true, 0);
                client.Dispose();
                server.Dispose();
            }

            _connections.Clear();
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await server.ConnectAsync(IPAddress.Loopback, _target);
            var upstream = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            lock (_gate)
            {
                _connections.Add((client, server, upstream));
            }

            _ = PumpAsync(client, server, upstream.Token);
            _ = PumpAsync(server, client, _stopping.Token);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, ct)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), ct);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stalled, cut or stopped.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        await _accepting;
        Cut();
    }
}
