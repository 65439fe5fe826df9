using System.Diagnostics;

namespace Hangar.ApiService.Runs;

/// <summary>
/// Hangar's own spans of a run: <c>chat.send</c> (the request that stores messages and creates the run),
/// <c>agent.chat</c> (one step's call to the agent, whose context the agent receives as <c>traceparent</c>) and
/// <c>stream.append</c> (the step's chunks going to Redis). The run keeps the context of the send that created it, so
/// every step is a child of that send whichever replica runs it. The <c>hangar.*</c> tags file the spans with the
/// agent's own (<see cref="Telemetry.RunSpanRecorder"/>).
/// </summary>
internal static class RunTracing
{
    public const string SourceName = "Hangar.ApiService";

    public const string OrganizationTag = "hangar.organization_id";
    public const string AgentTag = "hangar.agent_id";
    public const string DeploymentTag = "hangar.deployment_id";
    public const string TargetTag = "hangar.target";
    public const string ChatTag = "hangar.chat_id";
    public const string RunTag = "hangar.run_id";
    public const string StepTag = "hangar.step_id";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>The parent of a run's steps as stored with the run; the default context (a new trace per step) for runs stored without one.</summary>
    public static ActivityContext ParentOf(string? traceId, string? parentSpanId) =>
        traceId is null
            ? default
            : new ActivityContext(
                ActivityTraceId.CreateFromString(traceId),
                parentSpanId is null ? default : ActivitySpanId.CreateFromString(parentSpanId),
                ActivityTraceFlags.Recorded,
                isRemote: true);

    /// <summary>The trace and parent span a new run stores: the current span's, or a new trace when there is none.</summary>
    public static (string TraceId, string? ParentSpanId) ForNewRun(Activity? current) =>
        current is null ? (ActivityTraceId.CreateRandom().ToHexString(), null) : (current.TraceId.ToHexString(), current.SpanId.ToHexString());

    public static Activity? StartStep(string name, ActivityKind kind, RunLease lease, StepContext step, ActivityContext parent)
    {
        var activity = Source.StartActivity(name, kind, parent);
        activity?.SetTag(OrganizationTag, lease.OrganizationId.ToString())
            .SetTag(AgentTag, lease.AgentId.ToString())
            .SetTag(DeploymentTag, step.DeploymentId?.ToString())
            .SetTag(TargetTag, step.Target)
            .SetTag(ChatTag, lease.ChatId.ToString())
            .SetTag(RunTag, lease.RunId.ToString())
            .SetTag(StepTag, step.StepId.ToString());
        return activity;
    }
}
