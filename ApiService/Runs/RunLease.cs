using System.Diagnostics;

namespace Hangar.ApiService.Runs;

/// <summary>
/// A claimed run, as the claim left it. <see cref="Epoch"/> fences every write: once another replica takes over, this
/// one's writes match no row. <see cref="Trace"/> is the parent of the run's step spans (<see cref="RunTracing"/>).
/// </summary>
internal sealed record RunLease(Run Claimed, Guid OrganizationId, Guid AgentId, long Epoch, ActivityContext Trace)
{
    public Guid RunId => Claimed.Id;

    public Guid ChatId => Claimed.ChatId;

    /// <summary>True when an earlier owner held this run and died or let the lease lapse.</summary>
    public bool IsTakeover => Epoch > 1;
}

/// <summary>Why a run or step stopped early.</summary>
internal enum StopReason
{
    None,
    Interrupt,
    Stop,
    LeaseLost,
    Shutdown,
}
