using System.Text.Json.Nodes;
using Hangar.AgentProtocol;
using Hangar.ApiService.Chats;
using Hangar.ApiService.Data;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Hangar.ApiService.Runs;

/// <summary>What one step needs: the step as stored, where the agent is and the whole history.</summary>
internal sealed record StepContext(Step Started, Guid? DeploymentId, string Target, string? AgentUrl, List<StoredUiMessage> History)
{
    public Guid StepId => Started.Id;

    public int Number => Started.Number;
}

/// <summary>The SQL of the control loop. Every write of an owner is conditioned on its lease epoch.</summary>
internal sealed class RunStore(NpgsqlDataSource db, IOptions<RunOptions> options)
{
    private readonly TimeSpan _lease = options.Value.LeaseDuration;

    /// <summary>
    /// Claims the oldest run that waits (its chat runs nothing) or whose owner let the lease lapse; null when there is
    /// none. SKIP LOCKED lets replicas claim side by side; the unique index on running runs rules out two owners.
    /// </summary>
    public async Task<RunLease?> TryClaimAsync(string owner, CancellationToken ct)
    {
        await using var command = db.CreateCommand(ClaimNext).With("owner", owner).With("lease", _lease);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return null;
            }

            var run = ChatStore.ReadRun(reader);
            var at = ChatStore.RunColumnCount;
            return new RunLease(run, reader.GetGuid(at), reader.GetGuid(at + 1), reader.GetInt64(at + 2),
                RunTracing.ParentOf(run.TraceId, reader.GetStringOrNull(at + 3)));
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // Another replica started a run of the same chat a moment earlier; the next poll finds other work.
            return null;
        }
    }

    private const string ClaimNext = $"""
        update runs r set status = 'running', lease_owner = @owner, lease_expires_at = now() + @lease,
                          lease_epoch = r.lease_epoch + 1, started_at = coalesce(r.started_at, now())
        where r.id = (
            select c.id from runs c
            where (c.status = 'pending' and not exists (select 1 from runs x where x.chat_id = c.chat_id and x.status = 'running'))
               or (c.status = 'running' and c.lease_expires_at < now())
            order by c.created_at
            for update skip locked
            limit 1)
        returning {ChatStore.RunColumns}, organization_id, (select agent_id from chats where id = r.chat_id), lease_epoch, parent_span_id
        """;

    /// <summary>Renews the lease. Returns what the owner should do: keep going, or stop for the reason given.</summary>
    public async Task<StopReason> HeartbeatAsync(RunLease lease, CancellationToken ct)
    {
        await using var command = db.CreateCommand("""
            update runs set lease_expires_at = now() + @lease
            where id = @id and lease_epoch = @epoch and status = 'running'
            returning stop_requested, interrupt_requested
            """).With("lease", _lease).With("id", lease.RunId).With("epoch", lease.Epoch);
        await using var reader = await command.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return StopReason.LeaseLost;
        }

        return reader.GetBoolean(0) ? StopReason.Stop : reader.GetBoolean(1) ? StopReason.Interrupt : StopReason.None;
    }

    /// <summary>Closes steps a previous owner left running, which are run again from the stored history; returns their ids.</summary>
    public async Task<List<Guid>> AbandonStepsOfEarlierOwnersAsync(RunLease lease, CancellationToken ct)
    {
        await using var command = db.CreateCommand("""
            update steps set status = 'interrupted', completed_at = now(),
                             error = 'The replica running this step stopped before it ended; the step was run again.'
            where run_id = @run and status = 'running' and lease_epoch < @epoch
            returning id
            """).With("run", lease.RunId).With("epoch", lease.Epoch);
        var abandoned = new List<Guid>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            abandoned.Add(reader.GetGuid(0));
        }

        return abandoned;
    }

    /// <summary>
    /// Starts the next step and loads what it needs, or says why the run must end instead (stop or interrupt
    /// requested, lease lost).
    /// </summary>
    public async Task<(StepContext? Step, StopReason Reason)> StartStepAsync(RunLease lease, CancellationToken ct)
    {
        var stepId = Guid.CreateVersion7();
        await using var batch = db.CreateBatch().PlannedOnce();
        AddStepStart(batch, lease.RunId, lease.ChatId, lease.Epoch, stepId);
        await using var reader = await batch.ExecuteReaderAsync(ct);
        return await ReadStepStartAsync(reader, ct);
    }

    /// <summary>
    /// Adds the statements that start step <paramref name="stepId"/> of a run held at <paramref name="epoch"/> and load
    /// the chat's history (none when the step did not start). They come last in the batch:
    /// <see cref="ReadStepStartAsync"/> reads their results.
    /// </summary>
    public static void AddStepStart(NpgsqlBatch batch, Guid runId, Guid chatId, long epoch, Guid stepId)
    {
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"""
            with r as (update runs set step_count = step_count + 1
                       where id = @run and lease_epoch = @epoch and status = 'running' and not stop_requested and not interrupt_requested
                       returning id, chat_id, step_count),
            s as (insert into steps (id, run_id, chat_id, number, status, lease_epoch, deployment_id, started_at)
                  select @step, r.id, r.chat_id, r.step_count, 'running', @epoch,
                         (select a.active_deployment_id from chats c join agents a on a.id = c.agent_id where c.id = r.chat_id), now()
                  from r returning {ChatStore.StepColumns}, deployment_id)
            select s.*, d.url, coalesce(d.target, 'production'),
                   (select stop_requested from runs where id = @run), (select interrupt_requested from runs where id = @run)
            from (select 1) one left join s on true left join deployments d on d.id = s.deployment_id
            """).With("run", runId).With("epoch", epoch).With("step", stepId));
        batch.BatchCommands.Add(new NpgsqlBatchCommand("""
            select id, role, parts::text, metadata::text from messages
            where chat_id = @chat and exists (select 1 from steps where id = @step) order by created_at, seq
            """).With("chat", chatId).With("step", stepId));
    }

    /// <summary>Reads the results of <see cref="AddStepStart"/>; the reader is on the first of them, before its row.</summary>
    public static async Task<(StepContext? Step, StopReason Reason)> ReadStepStartAsync(NpgsqlDataReader reader, CancellationToken ct)
    {
        await reader.ReadAsync(ct);
        var at = ChatStore.StepColumnCount;
        if (reader.IsDBNull(0))
        {
            var (stop, interrupt) = (at + 3, at + 4);
            var reason = reader.IsDBNull(stop) ? StopReason.LeaseLost : reader.GetBoolean(stop) ? StopReason.Stop : reader.GetBoolean(interrupt) ? StopReason.Interrupt : StopReason.LeaseLost;
            return (null, reason);
        }

        var started = ChatStore.ReadStep(reader);
        Guid? deploymentId = reader.IsDBNull(at) ? null : reader.GetGuid(at);
        var url = reader.GetStringOrNull(at + 1);
        var target = reader.GetString(at + 2);
        await reader.NextResultAsync(ct);
        var history = new List<StoredUiMessage>();
        while (await reader.ReadAsync(ct))
        {
            history.Add(new StoredUiMessage(reader.GetString(0), reader.GetString(1), System.Text.Encoding.UTF8.GetBytes(reader.GetString(2)),
                reader.IsDBNull(3) ? (ReadOnlyMemory<byte>?)null : System.Text.Encoding.UTF8.GetBytes(reader.GetString(3))));
        }

        return (new StepContext(started, deploymentId, target, url, history), StopReason.None);
    }

    /// <summary>
    /// Stores the step's assistant message (if it said anything) and the step's outcome in one transaction, fenced by
    /// the epoch. Returns the stored message and step, or nulls when the lease was lost (nothing is written then).
    /// </summary>
    public async Task<(Chats.Message? Message, Step? Step)> CompleteStepAsync(RunLease lease, StepContext step, StepOutcome outcome, CancellationToken ct)
    {
        // One batch, one implicit transaction: the fence locks the run row, and the writes after it happen only if it held.
        const string Fenced = "exists (select 1 from runs where id = @run and lease_epoch = @epoch and status = 'running')";
        await using var batch = db.CreateBatch().PlannedOnce();
        batch.BatchCommands.Add(new NpgsqlBatchCommand("select 1 from runs where id = @run and lease_epoch = @epoch and status = 'running' for update")
            .With("run", lease.RunId).With("epoch", lease.Epoch));
        var saysSomething = outcome.Parts.Count > 0;
        if (saysSomething)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"""
                insert into messages (chat_id, id, role, parts, metadata, run_id, step_id, created_at)
                select @chat, @id, 'assistant', @parts, @metadata, @run, @step, (select started_at from steps where id = @step)
                where {Fenced}
                returning {ChatStore.MessageColumns}
                """)
                .With("chat", lease.ChatId).With("id", outcome.MessageId).WithJson("parts", outcome.Parts.ToJsonString())
                .WithJson("metadata", outcome.Metadata?.ToJsonString()).With("run", lease.RunId).With("step", step.StepId).With("epoch", lease.Epoch));
        }

        batch.BatchCommands.Add(new NpgsqlBatchCommand($"""
            update steps set status = @status, error = @error, message_id = @message, finish_reason = @finish, usage = @usage,
                             chunk_count = @chunks, first_chunk_at = @first, completed_at = now()
            where id = @step and lease_epoch = @epoch and {Fenced}
            returning {ChatStore.StepColumns}
            """)
            .With("status", outcome.Status).With("error", outcome.Error).With("message", saysSomething ? outcome.MessageId : null).With("finish", outcome.FinishReason)
            .WithJson("usage", outcome.Usage?.ToJsonString()).With("chunks", outcome.ChunkCount).With("first", outcome.FirstChunkAt)
            .With("step", step.StepId).With("epoch", lease.Epoch).With("run", lease.RunId));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return (null, null);
        }

        Chats.Message? message = null;
        if (saysSomething)
        {
            await reader.NextResultAsync(ct);
            message = await reader.ReadAsync(ct) ? ChatStore.ReadMessage(reader) : null;
        }

        await reader.NextResultAsync(ct);
        return (message, await reader.ReadAsync(ct) ? ChatStore.ReadStep(reader) : null);
    }

    /// <summary>Ends the run and settles the chat's status; fenced by the epoch. Returns null when the lease was lost.</summary>
    public async Task<(Run Run, Chat Chat)?> FinishRunAsync(RunLease lease, string status, string? error, JsonObject? usage, CancellationToken ct)
    {
        await using var batch = db.CreateBatch().PlannedOnce();
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"""
            with r as (update runs set status = @status, error = @error, usage = @usage, completed_at = now(), lease_owner = null, lease_expires_at = null
                       where id = @run and lease_epoch = @epoch and status = 'running'
                       returning {ChatStore.RunColumns}),
            c as (update chats set
                      status = case when exists (select 1 from runs p where p.chat_id = @chat and p.status = 'pending') then 'streaming'
                                    when @status = 'failed' then 'error' else 'idle' end,
                      error = case when @status = 'failed' then @error else null end,
                      updated_at = now()
                  where id = @chat and exists (select 1 from r)
                  returning {ChatStore.ChatColumns})
            select r.*, c.* from r, c
            """).With("status", status).With("error", error).WithJson("usage", usage?.ToJsonString()).With("run", lease.RunId)
            .With("epoch", lease.Epoch).With("chat", lease.ChatId));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }

        return (ChatStore.ReadRun(reader), ChatStore.ReadChat(reader, ChatStore.RunColumnCount));
    }

    /// <summary>Gives the run back at once (graceful shutdown), so another replica continues without waiting for the lease to lapse.</summary>
    public async Task ReleaseAsync(RunLease lease, CancellationToken ct)
    {
        await using var command = db.CreateCommand("update runs set lease_expires_at = now() - interval '1 second' where id = @run and lease_epoch = @epoch and status = 'running'")
            .With("run", lease.RunId).With("epoch", lease.Epoch);
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task<Step?> GetStepAsync(Guid stepId, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"select {ChatStore.StepColumns} from steps where id = @id").With("id", stepId);
        return await ChatStore.SingleAsync(command, ChatStore.ReadStep, ct);
    }
}
