using System.Text.Json.Nodes;
using Hangar.ApiService.Chats;
using Hangar.ApiService.Events;
using Hangar.Contracts;
using Microsoft.Extensions.Options;

namespace Hangar.ApiService.Runs;

/// <summary>
/// Drives one claimed run to its end (ARCHITECTURE.md, control loop §3–8): steps until the tool loop is done, a
/// heartbeat that keeps the lease and notices stop and interrupt, and events for every change.
/// </summary>
internal sealed partial class RunExecutor(
    RunStore store, AgentInvoker invoker, ChatEventPublisher events, RunSignals signals, IOptions<RunOptions> options, TimeProvider time, ILogger<RunExecutor> logger)
{
    /// <summary>Writes that settle a step or run get this long even when the run is being cancelled.</summary>
    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Runs the run's steps; <paramref name="firstStep"/> is given when the send that created the run started it.</summary>
    public async Task ExecuteAsync(RunLease lease, StepContext? firstStep, CancellationToken shutdown)
    {
        using var control = new RunControl(shutdown);
        using var ownership = signals.Own(lease.RunId, signal => control.Stop(signal == RunSignal.Stop ? StopReason.Stop : StopReason.Interrupt));
        var heartbeat = HeartbeatAsync(lease, control);
        try
        {
            await RunStepsAsync(lease, firstStep, control);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRunCrashed(logger, lease.RunId, ex);
            using var settle = new CancellationTokenSource(SettleTimeout);
            await FinishAsync(lease, "failed", $"Hangar failed while running this run: {ex.Message}", null, settle.Token);
        }
        finally
        {
            await control.EndAsync();
            await heartbeat;
        }
    }

    private async Task RunStepsAsync(RunLease lease, StepContext? firstStep, RunControl control)
    {
        if (lease.IsTakeover)
        {
            // Clients see the step that died with its replica end, then the same step run again.
            foreach (var abandoned in await store.AbandonStepsOfEarlierOwnersAsync(lease, control.RunToken))
            {
                if (await store.GetStepAsync(abandoned, control.RunToken) is { } step)
                {
                    events.Publish(lease.ChatId, ChatEvents.StepUpdated, step, ChatEventPublisher.Json<Step>());
                }
            }
        }

        if (firstStep is null)
        {
            // A send that creates its run claimed announces it itself.
            events.Publish(lease.ChatId, ChatEvents.RunUpdated, lease.Claimed, ChatEventPublisher.Json<Run>());
        }

        var usage = new JsonObject();
        string status;
        string? error = null;
        while (true)
        {
            var (step, why) = firstStep is not null ? (firstStep, StopReason.None) : await store.StartStepAsync(lease, control.RunToken);
            firstStep = null;
            if (step is null)
            {
                if (why == StopReason.LeaseLost)
                {
                    return;
                }

                status = why == StopReason.Stop ? "stopped" : "interrupted";
                break;
            }

            events.Publish(lease.ChatId, ChatEvents.StepUpdated, step.Started, ChatEventPublisher.Json<Step>());

            var outcome = step.Number > options.Value.MaxStepsPerRun
                ? new StepOutcome("failed", $"The run reached its limit of {options.Value.MaxStepsPerRun} steps (Hangar:Runs:MaxStepsPerRun).", Guid.CreateVersion7().ToString(), [], null, null, 0, null, false)
                : await invoker.InvokeAsync(lease, step, () => control.Reason, control.NewStepToken());

            using var settle = new CancellationTokenSource(SettleTimeout);
            var (message, stored) = await store.CompleteStepAsync(lease, step, outcome, settle.Token);
            if (stored is null)
            {
                return;
            }

            if (message is not null)
            {
                events.Publish(lease.ChatId, ChatEvents.MessageCreated, message, ChatEventPublisher.Json<Chats.Message>());
            }

            events.Publish(lease.ChatId, ChatEvents.StepUpdated, stored, ChatEventPublisher.Json<Step>());
            AddUsage(usage, outcome.Usage);

            if (outcome.Status == "completed" && outcome.ContinueToolLoop)
            {
                continue;
            }

            if (control.Reason is StopReason.Shutdown or StopReason.LeaseLost)
            {
                // Another replica continues the run from the stored history.
                await store.ReleaseAsync(lease, settle.Token);
                return;
            }

            (status, error) = outcome.Status switch
            {
                "failed" => ("failed", outcome.Error),
                "completed" => ("completed", null),
                var other => (other, null),
            };
            break;
        }

        using var finish = new CancellationTokenSource(SettleTimeout);
        await FinishAsync(lease, status, error, usage.Count > 0 ? usage : null, finish.Token);
    }

    private async Task FinishAsync(RunLease lease, string status, string? error, JsonObject? usage, CancellationToken ct)
    {
        if (await store.FinishRunAsync(lease, status, error, usage, ct) is not { } finished)
        {
            return;
        }

        events.Publish(lease.ChatId, ChatEvents.RunUpdated, finished.Run, ChatEventPublisher.Json<Run>());
        events.Publish(lease.ChatId, ChatEvents.ChatUpdated, finished.Chat, ChatEventPublisher.Json<Chat>());
        LogRunFinished(logger, lease.RunId, status, error);

        // A run that waited behind this one can start now.
        signals.WakeLocal();
    }

    private async Task HeartbeatAsync(RunLease lease, RunControl control)
    {
        // The claim was just made; every renewal counts from the moment it was sent, which errs on the early side.
        var renewedAt = time.GetTimestamp();
        try
        {
            while (!control.Ended.IsCancellationRequested)
            {
                await Task.Delay(options.Value.HeartbeatInterval, time, control.Ended);
                var sentAt = time.GetTimestamp();
                StopReason reason;
                try
                {
                    reason = await store.HeartbeatAsync(lease, control.Ended);
                    renewedAt = sentAt;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The database is unreachable. Until the lease lapses no one else can claim the run, so the step goes
                    // on and the renewal is retried; once it may have lapsed, another replica can take the run over.
                    LogHeartbeatFailed(logger, lease.RunId, ex.Message);
                    reason = time.GetElapsedTime(renewedAt) >= options.Value.LeaseDuration ? StopReason.LeaseLost : StopReason.None;
                }

                if (reason != StopReason.None)
                {
                    control.Stop(reason);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static void AddUsage(JsonObject total, JsonObject? step)
    {
        if (step is null)
        {
            return;
        }

        foreach (var (key, value) in step)
        {
            if (value is JsonValue number && number.TryGetValue<double>(out var amount))
            {
                total[key] = (total[key]?.GetValue<double>() ?? 0) + amount;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Run {RunId} ended {Status} {Error}")]
    private static partial void LogRunFinished(ILogger logger, Guid runId, string status, string? error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run {RunId} failed inside Hangar")]
    private static partial void LogRunCrashed(ILogger logger, Guid runId, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat of run {RunId} failed: {Reason}")]
    private static partial void LogHeartbeatFailed(ILogger logger, Guid runId, string reason);

    /// <summary>
    /// The run's cancellation: stop, lease loss and shutdown end the run; interrupt ends only the current step
    /// (the run then ends as interrupted and the waiting run continues with the new message).
    /// </summary>
    private sealed class RunControl : IDisposable
    {
        private readonly CancellationTokenSource _run;
        private readonly CancellationTokenRegistration _onShutdown;
        private readonly CancellationTokenSource _ended = new();
        private CancellationTokenSource? _step;
        private readonly Lock _gate = new();
        private StopReason _reason;

        public RunControl(CancellationToken shutdown)
        {
            _run = new CancellationTokenSource();
            _onShutdown = shutdown.Register(() => Stop(StopReason.Shutdown));
        }

        public CancellationToken RunToken => _run.Token;

        public CancellationToken Ended => _ended.Token;

        public StopReason Reason
        {
            get
            {
                lock (_gate)
                {
                    return _reason;
                }
            }
        }

        public CancellationToken NewStepToken()
        {
            var step = CancellationTokenSource.CreateLinkedTokenSource(_run.Token);
            Interlocked.Exchange(ref _step, step)?.Dispose();
            if (Reason == StopReason.Interrupt)
            {
                step.Cancel();
            }

            return step.Token;
        }

        public void Stop(StopReason reason)
        {
            lock (_gate)
            {
                // The first reason wins, except that a stop outranks an interrupt.
                if (_reason != StopReason.None && !(reason == StopReason.Stop && _reason == StopReason.Interrupt))
                {
                    return;
                }

                _reason = reason;
            }

            try
            {
                if (reason == StopReason.Interrupt)
                {
                    Volatile.Read(ref _step)?.Cancel();
                }
                else
                {
                    _run.Cancel();
                }
            }
            catch (ObjectDisposedException)
            {
                // The run ended while the signal was on its way.
            }
        }

        public async Task EndAsync() => await _ended.CancelAsync();

        public void Dispose()
        {
            _onShutdown.Dispose();
            _step?.Dispose();
            _run.Dispose();
            _ended.Dispose();
        }
    }
}
