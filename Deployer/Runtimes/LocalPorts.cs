using System.Net;
using System.Net.Sockets;

namespace Hangar.Deployer.Runtimes;

/// <summary>
/// Free loopback ports for agents that share the host's network. They are taken below the kernel's ephemeral range
/// (32768 and up), which outgoing connections draw their source ports from: a port found free there can be taken by
/// any connection a moment later, and the agent listens on the wrapper's port + 1, which nobody asked the kernel for.
/// </summary>
internal static class LocalPorts
{
    private const int First = 20_000;
    private const int End = 32_768;

    /// <summary>A port such that it and the <paramref name="count"/> - 1 after it are free now.</summary>
    public static int Next(int count = 1)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(First, End - count);
            if (Enumerable.Range(port, count).All(IsFree))
            {
                return port;
            }
        }

        throw new InvalidOperationException($"No {count} free loopback port(s) in a row between {First} and {End}.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
