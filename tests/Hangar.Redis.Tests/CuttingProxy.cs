using System.Net;
using System.Net.Sockets;

namespace Hangar.Redis.Tests;

/// <summary>
/// A TCP proxy in front of a Redis server that can stop reading from its clients, so their writes back up and stay
/// pending, and then cut their connections the way a dying server would. Connections made after a cut pass through.
/// It can also hold back the end of what the next client sends, so the server acts between two pipelined commands.
/// </summary>
internal sealed class CuttingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly Lock _gate = new();
    private readonly List<(Socket Client, Socket Server, CancellationTokenSource Upstream)> _connections = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _accepting;
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Func<byte[], int>? _holdAfter;
    private int _accepted;

    public CuttingProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>
    /// The next connection passes what its client sends only up to the offset <paramref name="splitAt"/> finds in it
    /// (-1: not there yet, read more); the rest waits for <see cref="Release"/>.
    /// </summary>
    public void HoldNextAfter(Func<byte[], int> splitAt) => _holdAfter = splitAt;

    public void Release() => _released.TrySetResult();

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

            Interlocked.Increment(ref _accepted);
            _ = Interlocked.Exchange(ref _holdAfter, null) is { } splitAt
                ? PumpHeldAsync(client, server, splitAt, upstream.Token)
                : PumpAsync(client, server, upstream.Token);
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

            // One side closed: so does the other, as it would without the proxy.
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stalled, cut or stopped.
        }
    }

    private async Task PumpHeldAsync(Socket from, Socket to, Func<byte[], int> splitAt, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        var sent = Array.Empty<byte>();
        int split;
        try
        {
            do
            {
                var read = await from.ReceiveAsync(buffer, ct);
                if (read == 0)
                {
                    return;
                }

                sent = [.. sent, .. buffer.AsSpan(0, read)];
                split = splitAt(sent);
            }
            while (split < 0);

            await to.SendAsync(sent.AsMemory(0, split), ct);
            await _released.Task.WaitAsync(ct);
            await to.SendAsync(sent.AsMemory(split), ct);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            return;
        }

        await PumpAsync(from, to, ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _released.TrySetResult();
        _listener.Stop();
        await _accepting;
        Cut();
    }
}
