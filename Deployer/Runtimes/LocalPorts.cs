using System.Net;
using System.Net.Sockets;

namespace Hangar.Deployer.Runtimes;

/// <summary>Free loopback ports, asked of the kernel, for agents that share the host's network.</summary>
internal static class LocalPorts
{
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
