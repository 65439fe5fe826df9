using Hangar.AppHost.Resources;

namespace Hangar.AppHost;

/// <summary>
/// One resource of a running <see cref="HangarApp"/>: a name, what it is, where it is reached, and the process that
/// runs it now (a crashed service gets a new one), or the container that runs it, or neither for an external server.
/// </summary>
public sealed class HangarResource(string name, string kind, string endpoint, ChildProcess? process)
{
    public string Name { get; } = name;

    /// <summary>The project (<c>ApiService</c>, <c>StreamHub</c>, <c>Deployer</c>) or server (<c>PostgreSQL</c>, <c>Redis</c>).</summary>
    public string Kind { get; } = kind;

    /// <summary>An http URL for a service; a connection string for a server.</summary>
    public string Endpoint { get; } = endpoint;

    public ChildProcess? Process { get; internal set; } = process;

    /// <summary>The container's name when the local Docker engine runs it.</summary>
    public string? Container { get; init; }

    /// <summary>How often the app restarted it after a crash.</summary>
    public int Restarts { get; internal set; }

    public string State => Process is not null ? (Process.HasExited ? "exited" : "running") : Container is not null ? "container" : "external";
}
