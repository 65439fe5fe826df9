using System.Text;
using System.Text.Json;
using Hangar.ApiService.Data;
using Hangar.ApiService.Events;
using Hangar.ApiService.Http;
using Hangar.ApiService.Runs;
using Hangar.Contracts;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Hangar.ApiService.Chats;

public enum SendBehavior
{
    Enqueue,
    Interrupt,
    Append,
}

/// <summary>The outcome of sending messages: what was stored, the run that will answer, and where to watch.</summary>
internal sealed record SendResult(List<Message> Messages, Run? Run, string LastEventId);

/// <summary>
/// Stores messages and starts, queues or interrupts the chat's run (ARCHITECTURE.md, control loop §1). The public API
/// and the agent API both send through here.
/// </summary>
internal sealed class ChatService(
    NpgsqlDataSource db, ChatEventPublisher events, RunSignals signals, RunWorker worker, IOptions<HangarOptions> options, IOptions<RunOptions> runOptions)
{
    public const int MaxMessagesPerCall = 100;

    public static bool TryParseBehavior(string? value, out SendBehavior behavior)
    {
        (var known, behavior) = value switch
        {
            null or "enqueue" => (true, SendBehavior.Enqueue),
            "interrupt" => (true, SendBehavior.Interrupt),
            "append" => (true, SendBehavior.Append),
            _ => (false, SendBehavior.Enqueue),
        };
        return known;
    }

    /// <summary>Checks the messages field by field; the field names are the request's (<c>messages[0].parts</c>).</summary>
    public Validation Validate(List<NewMessage>? messages, string? behavior, bool required)
    {
        var validation = new Validation()
            .Require(TryParseBehavior(behavior, out _), "behavior", "Must be 'enqueue', 'interrupt' or 'append'.");
        if (messages is null || messages.Count == 0)
        {
            validation.Require(!required, "messages", "At least one message is required.");
            return validation;
        }

        validation.Require(messages.Count <= MaxMessagesPerCall, "messages", $"At most {MaxMessagesPerCall} messages per call.");
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            var field = $"messages[{i}]";
            validation.Require(m.Role is "user" or "assistant" or "system", field + ".role", "Must be 'user', 'assistant' or 'system'.");
            validation.Require(m.Id is null || (m.Id.Length is > 0 and <= 200), field + ".id", "Must be 1 to 200 characters when given.");
            if (m.Parts is not { ValueKind: JsonValueKind.Array } parts)
            {
                validation.Add(field + ".parts", "Required: an array of UIMessage parts.");
                continue;
            }

            var p = 0;
            foreach (var part in parts.EnumerateArray())
            {
                validation.Require(
                    part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String,
                    $"{field}.parts[{p}]", "Each part must be an object with a string 'type'.");
                p++;
            }

            validation.Require(m.Metadata is null or { ValueKind: JsonValueKind.Object or JsonValueKind.Null }, field + ".metadata", "Must be an object or null.");
            var size = Encoding.UTF8.GetByteCount(parts.GetRawText()) + (m.Metadata?.GetRawText().Length ?? 0);
            validation.Require(size <= options.Value.MaxMessageBytes, field, $"The message is {size} bytes; at most {options.Value.MaxMessageBytes} are accepted.");
        }

        return validation;
    }

    /// <summary>
    /// Stores the messages and, unless appending, makes sure a run will answer them. Returns null when the chat does
    /// not exist in the organisation.
    /// </summary>
    public async Task<SendResult?> SendAsync(Guid organizationId, Guid chatId, List<NewMessage> messages, SendBehavior behavior, CancellationToken ct)
    {
        using var activity = RunTracing.Source.StartActivity("chat.send");
        activity?.SetTag(RunTracing.OrganizationTag, organizationId.ToString()).SetTag(RunTracing.ChatTag, chatId.ToString())
            .SetTag("hangar.messages", messages.Count).SetTag("hangar.behavior", behavior.ToString().ToLowerInvariant());

        // Read before anything of this send is written, so the stream position comes before every event it starts.
        var lastEventId = await events.LastEventIdAsync(chatId);

        // One batch, so one round trip and one implicit transaction: all of it is stored, or none. Every statement is
        // scoped to the organisation's chat, whose row lock serialises sends to it.
        await using var batch = db.CreateBatch().PlannedOnce();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("select agent_id from chats where id = @chat and organization_id = @org for update")
            .With("chat", chatId).With("org", organizationId));
        foreach (var m in messages)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"""
                insert into messages (chat_id, id, role, parts, metadata)
                select id, @id, @role, @parts, @metadata from chats where id = @chat and organization_id = @org
                returning {ChatStore.MessageColumns}
                """).With("chat", chatId).With("org", organizationId).With("id", m.Id ?? Guid.CreateVersion7().ToString()).With("role", m.Role)
                .WithJson("parts", m.Parts!.Value.GetRawText()).WithJson("metadata", m.Metadata is { ValueKind: JsonValueKind.Object } meta ? meta.GetRawText() : null));
        }

        if (behavior == SendBehavior.Interrupt)
        {
            // The owner ends the running run as interrupted; the run below continues with the latest history.
            batch.BatchCommands.Add(new NpgsqlBatchCommand("update runs set interrupt_requested = true where chat_id = @chat and organization_id = @org and status = 'running' returning id")
                .With("chat", chatId).With("org", organizationId));
        }

        // A run this replica has room for is created already claimed by it, with its first step started: it goes
        // straight to the agent, without waiting for a worker or another round trip.
        var owner = behavior == SendBehavior.Append ? null : worker.OwnerWithRoom;
        var trace = RunTracing.ForNewRun(activity);
        var runId = Guid.CreateVersion7();
        if (behavior != SendBehavior.Append)
        {
            batch.BatchCommands.Add(EnsureRun(organizationId, chatId, runId, owner, trace));
            if (owner is not null)
            {
                RunStore.AddStepStart(batch, runId, chatId, epoch: 1, Guid.CreateVersion7());
            }
        }

        var (agentId, stored, interrupted, run, epoch, firstStep) = await ReadSentAsync(batch, messages.Count, behavior, startsStep: owner is not null, ct);
        if (agentId is null)
        {
            return null;
        }

        activity?.SetTag(RunTracing.AgentTag, agentId.ToString());
        if (run is not null)
        {
            activity?.SetTag(RunTracing.RunTag, run.Id.ToString());
        }

        foreach (var message in stored)
        {
            events.Publish(chatId, ChatEvents.MessageCreated, message, ChatEventPublisher.Json<Message>());
        }

        if (run is not null)
        {
            events.Publish(chatId, ChatEvents.RunUpdated, run, ChatEventPublisher.Json<Run>());
            if (interrupted is { } interruptedRun)
            {
                _ = signals.SendAsync(interruptedRun, RunSignal.Interrupt);
            }

            if (firstStep is not null)
            {
                worker.Start(new RunLease(run, organizationId, agentId.Value, epoch, RunTracing.ParentOf(trace.TraceId, trace.ParentSpanId)), firstStep);
            }
            else if (owner is null)
            {
                worker.WakeOtherReplicas();
            }
        }

        return new SendResult(stored, run, lastEventId);
    }

    /// <summary>Flags the running run to stop and cancels the waiting one. Returns false when the chat does not exist.</summary>
    public async Task<bool> StopAsync(Guid organizationId, Guid chatId, CancellationToken ct)
    {
        await using var command = db.CreateCommand("""
            with chat as (select id from chats where id = @chat and organization_id = @org),
            pending as (update runs set status = 'stopped', error = 'Stopped before it started.', completed_at = now()
                        where chat_id = (select id from chat) and status = 'pending' returning id),
            running as (update runs set stop_requested = true where chat_id = (select id from chat) and status = 'running' returning id),
            idle as (update chats set status = 'idle', updated_at = now()
                     where id = (select id from chat) and not exists (select 1 from running))
            select (select id from chat), (select id from running)
            """).With("chat", chatId).With("org", organizationId);
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        if (reader.IsDBNull(0))
        {
            return false;
        }

        if (reader.GetGuidOrNull(1) is { } running)
        {
            await signals.SendAsync(running, RunSignal.Stop);
        }

        return true;
    }

    /// <summary>Deletes the chat with everything in it and stops its running run. Returns false when it does not exist.</summary>
    public async Task<bool> DeleteAsync(Guid organizationId, Guid chatId, CancellationToken ct)
    {
        await using var command = db.CreateCommand("""
            with running as (select id from runs where chat_id = @id and status = 'running')
            delete from chats where id = @id and organization_id = @org returning (select id from running)
            """).With("id", chatId).With("org", organizationId);
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return false;
        }

        if (reader.GetGuidOrNull(0) is { } running)
        {
            await signals.SendAsync(running, RunSignal.Stop);
        }

        return true;
    }

    /// <summary>
    /// What the send batch stored: the chat's agent (null when the chat is not the organisation's), the messages, the
    /// interrupted run, the run with its lease epoch, and the first step when the run was created claimed.
    /// </summary>
    private static async Task<(Guid? AgentId, List<Message> Stored, Guid? Interrupted, Run? Run, long Epoch, StepContext? FirstStep)> ReadSentAsync(
        NpgsqlBatch batch, int messageCount, SendBehavior behavior, bool startsStep, CancellationToken ct)
    {
        await using var reader = await batch.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return (null, [], null, null, 0, null);
        }

        var agentId = reader.GetGuid(0);
        var stored = new List<Message>(messageCount);
        for (var i = 0; i < messageCount; i++)
        {
            await reader.NextResultAsync(ct);
            await reader.ReadAsync(ct);
            stored.Add(ChatStore.ReadMessage(reader));
        }

        Guid? interrupted = null;
        if (behavior == SendBehavior.Interrupt)
        {
            await reader.NextResultAsync(ct);
            interrupted = await reader.ReadAsync(ct) ? reader.GetGuid(0) : null;
        }

        if (behavior == SendBehavior.Append)
        {
            return (agentId, stored, interrupted, null, 0, null);
        }

        await reader.NextResultAsync(ct);
        await reader.ReadAsync(ct);
        var (run, epoch) = (ChatStore.ReadRun(reader), reader.GetInt64(ChatStore.RunColumnCount));
        StepContext? firstStep = null;
        if (startsStep)
        {
            // No step starts when the run waits behind another of the chat, and no history is read then.
            await reader.NextResultAsync(ct);
            (firstStep, _) = await RunStore.ReadStepStartAsync(reader, ct);
        }

        return (agentId, stored, interrupted, run, epoch, firstStep);
    }

    /// <summary>
    /// The chat's waiting run, or a new one: claimed by <paramref name="owner"/> (epoch 1) when one is given and the
    /// chat runs nothing, waiting otherwise. Returns the run's columns and its lease epoch.
    /// </summary>
    private NpgsqlBatchCommand EnsureRun(Guid organizationId, Guid chatId, Guid runId, string? owner, (string TraceId, string? ParentSpanId) trace) =>
        new NpgsqlBatchCommand($"""
            with existing as (select {ChatStore.RunColumns}, lease_epoch from runs where chat_id = @chat and status = 'pending'),
            numbered as (update chats set last_run_number = last_run_number + 1, status = 'streaming', error = null, updated_at = now()
                         where id = @chat and organization_id = @org and not exists (select 1 from existing) returning last_run_number),
            claim as (select @owner::text as owner
                      where @owner::text is not null and not exists (select 1 from runs where chat_id = @chat and status = 'running')),
            created as (insert into runs (id, organization_id, chat_id, number, status, trace_id, parent_span_id,
                                          lease_owner, lease_expires_at, lease_epoch, started_at)
                        select @id, @org, @chat, n.last_run_number, case when c.owner is null then 'pending' else 'running' end, @trace, @parent,
                               c.owner, case when c.owner is null then null else now() + @lease end,
                               case when c.owner is null then 0 else 1 end, case when c.owner is null then null else now() end
                        from numbered n left join claim c on true
                        returning {ChatStore.RunColumns}, lease_epoch)
            select * from existing union all select * from created
            """).With("chat", chatId).With("org", organizationId).With("id", runId).With("owner", (object?)owner ?? DBNull.Value)
            .With("lease", runOptions.Value.LeaseDuration).With("trace", trace.TraceId).With("parent", (object?)trace.ParentSpanId ?? DBNull.Value);
}
