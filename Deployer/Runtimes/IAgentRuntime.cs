namespace Hangar.Deployer.Runtimes;

/// <summary>
/// Runs deployments: the wrapper image as Docker containers, or the wrapper as local processes. Instances carry their
/// deployment's id (container labels, or the process runtime's records) so that a restarted Deployer finds them.
/// </summary>
public interface IAgentRuntime
{
    /// <summary><c>docker</c> or <c>process</c>: the deployments' <c>runtime</c> this one serves.</summary>
    string Name { get; }

    /// <summary>Every instance this runtime has, running or not.</summary>
    Task<IReadOnlyList<AgentInstance>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Creates an instance with the bundle in its <c>/app</c> and starts it; throws <see cref="AgentStartException"/> with a readable reason.</summary>
    Task<AgentInstance> StartAsync(AgentLaunch launch, CancellationToken cancellationToken);

    /// <summary>The instance's state now; <see cref="InstanceState.Missing"/> when it is gone.</summary>
    Task<InstanceState> InspectAsync(AgentInstance instance, CancellationToken cancellationToken);

    /// <summary>The deployments whose instance stops, as it happens: a dead agent is seen at once, not on the next pass.</summary>
    IAsyncEnumerable<Guid> StoppedAsync(CancellationToken cancellationToken);

    /// <summary>Starts a stopped instance again, as it was.</summary>
    Task RestartAsync(AgentInstance instance, CancellationToken cancellationToken);

    /// <summary>SIGTERM, SIGKILL after <paramref name="timeout"/>, then removes the instance.</summary>
    Task RemoveAsync(AgentInstance instance, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>The last lines the instance printed, stdout and stderr together.</summary>
    Task<IReadOnlyList<string>> RecentOutputAsync(AgentInstance instance, int lines, CancellationToken cancellationToken);
}

/// <summary>What to start: the deployment, its bundle (a gzipped tar), entrypoint and environment (Blink's names included).</summary>
public sealed record AgentLaunch(
    Guid DeploymentId, Guid AgentId, int Number, string Entrypoint, byte[] Bundle, IReadOnlyDictionary<string, string> Environment, Guid TokenId);

/// <summary>An instance: the runtime's id for it (container id, process id), its deployment, and where its wrapper answers.</summary>
public sealed record AgentInstance(string Id, Guid DeploymentId, string Url, Guid? TokenId);

/// <summary>
/// An instance's state: running or not, and how it last ended. <see cref="Restarts"/> counts the restarts the
/// runtime made by itself (Docker's restart policy).
/// </summary>
public sealed record InstanceState(bool Exists, bool Running, int? ExitCode, int Restarts, string? Error)
{
    public static InstanceState Missing { get; } = new(false, false, null, 0, null);
}

/// <summary>An instance could not be started; the message says why, for the deployment's error.</summary>
public sealed class AgentStartException(string message, Exception? inner = null) : Exception(message, inner);
