using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Hangar.StreamBench;

/// <summary>Latency percentiles in milliseconds.</summary>
internal sealed record Percentiles(double P50, double P95, double P99, double Max)
{
    public static Percentiles Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        double At(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        return new(At(0.50), At(0.95), At(0.99), sorted[^1]);
    }
}

/// <summary>Lost, repeated and garbled deltas, resets, and runs that did not complete (with one's error), summed over turns.</summary>
internal sealed record Delivery(int Expected, int Received, int Lost, int Duplicated, int Garbled, int Resets, int NotCompleted, string? Error)
{
    public static Delivery Of(IEnumerable<Turn> turns) => Sum(turns.Select(t =>
        new Delivery(t.Deltas, t.Received, t.Lost, t.Duplicated, t.Garbled, t.Resets, t.Status == "completed" ? 0 : 1, t.Status == "completed" ? null : $"{t.Status}: {t.Error}")));

    public static Delivery Sum(IEnumerable<Delivery> all) => all.Aggregate(new Delivery(0, 0, 0, 0, 0, 0, 0, null), (d, x) => new(
        d.Expected + x.Expected, d.Received + x.Received, d.Lost + x.Lost, d.Duplicated + x.Duplicated, d.Garbled + x.Garbled, d.Resets + x.Resets,
        d.NotCompleted + x.NotCompleted, d.Error ?? x.Error));

    public bool Exact => Lost == 0 && Duplicated == 0 && Garbled == 0 && Received == Expected && NotCompleted == 0;
}

internal sealed record Stream1Result(double ChunksPerSecond, double SendToLastMs, double HalfOfChunksAtFractionOfTime, Delivery Delivery);

internal sealed record TurnsResult(int Turns, Percentiles FirstChunkMs, Percentiles EndMs, Delivery Delivery, Breakdown? Breakdown = null)
{
    public static TurnsResult Of(List<Turn> done, Breakdown? breakdown = null) =>
        new(done.Count, Percentiles.Of(done.Where(t => t.FirstChunkAt > 0).Select(t => t.Milliseconds(t.SentAt, t.FirstChunkAt))),
            Percentiles.Of(done.Select(t => t.Milliseconds(t.SentAt, t.EndedAt))), Delivery.Of(done), breakdown);
}

internal sealed record ParallelResult(int Chats, double AggregateChunksPerSecond, double WallMs, Percentiles FirstChunkMs, Delivery Delivery);

internal sealed record ResumeResult(int DroppedAfter, double CatchUpMs, string ResumedOn, int Reconnects, Delivery Delivery, string Status);

/// <summary>
/// The workloads of issue 6, each through Hangar (a chat on StreamHub over SSE) and, where it applies, against the
/// bench agent directly. Every delta is checked; times are measured at this client.
/// </summary>
internal sealed class Workloads(HangarClient hangar, HttpClient http, Guid agentId, string agentUrl)
{
    /// <summary>W1: one turn of <paramref name="deltas"/> deltas of <paramref name="size"/> bytes through Hangar.</summary>
    public async Task<Stream1Result> OneStreamAsync(int deltas, int size)
    {
        var turn = new Turn(deltas, size).Send();
        var (_, url) = await hangar.CreateChatAsync(agentId, $"bench {deltas} {size}");
        await using var stream = new ChatStream(http, url);
        stream.Expect(turn);
        await WaitAsync(turn, stream);
        return Stream1(turn);
    }

    /// <summary>W1's ceiling: the same turn from the agent directly.</summary>
    public async Task<Stream1Result> OneStreamDirectAsync(int deltas, int size)
    {
        var turn = new Turn(deltas, size);
        await DirectAgent.RunTurnAsync(http, agentUrl, $"bench {deltas} {size}", turn);
        return Stream1(turn);
    }

    /// <summary>
    /// W2 (short turns) and W4 (tool-call turns): sequential turns on one chat, one stream open throughout; with
    /// <paramref name="postgres"/>, where the time to first chunk went. Returns the chat too.
    /// </summary>
    public async Task<(TurnsResult Result, Guid ChatId)> SequentialTurnsAsync(int turns, string text, int deltas, string? postgres = null)
    {
        var (chatId, url) = await hangar.CreateChatAsync(agentId, null);
        await using var stream = new ChatStream(http, url);
        var done = new List<Turn>();
        for (var i = 0; i < turns; i++)
        {
            var turn = new Turn(deltas, 8);
            stream.Expect(turn);
            turn.Send();
            await hangar.SendAsync(chatId, text);
            await WaitAsync(turn, stream);
            done.Add(turn);
        }

        return (TurnsResult.Of(done, postgres is null ? null : await LatencyBreakdown.QueryAsync(postgres, chatId, done)), chatId);
    }

    /// <summary>
    /// W2's ceiling: the same turns from the agent directly, one after the other, each with the history the agent got
    /// through Hangar (<paramref name="history"/>, the chat's stored messages, up to and including the turn's message).
    /// </summary>
    public async Task<TurnsResult> SequentialDirectAsync(List<JsonObject> history, int deltas)
    {
        var done = new List<Turn>();
        for (var i = 0; i < history.Count; i++)
        {
            if (history[i]["role"]!.GetValue<string>() != "user")
            {
                continue;
            }

            var turn = new Turn(deltas, 8);
            await DirectAgent.RunTurnAsync(http, agentUrl, new JsonArray([.. history[..(i + 1)].Select(m => m.DeepClone())]), turn);
            done.Add(turn);
        }

        return TurnsResult.Of(done);
    }

    /// <summary>W3: <paramref name="chats"/> chats at once, each a turn of <paramref name="deltas"/> deltas.</summary>
    public async Task<ParallelResult> ParallelAsync(int chats, int deltas, int size)
    {
        var start = Stopwatch.GetTimestamp();
        var turns = await Task.WhenAll(Enumerable.Range(0, chats).Select(async _ =>
        {
            var turn = new Turn(deltas, size).Send();
            var (_, url) = await hangar.CreateChatAsync(agentId, $"bench {deltas} {size}");
            await using var stream = new ChatStream(http, url);
            stream.Expect(turn);
            await WaitAsync(turn, stream);
            return turn;
        }));
        return Parallel(turns, start);
    }

    /// <summary>W3's ceiling: the same turns from the agent directly, all at once.</summary>
    public async Task<ParallelResult> ParallelDirectAsync(int chats, int deltas, int size)
    {
        var start = Stopwatch.GetTimestamp();
        var turns = await Task.WhenAll(Enumerable.Range(0, chats).Select(async _ =>
        {
            var turn = new Turn(deltas, size);
            await DirectAgent.RunTurnAsync(http, agentUrl, $"bench {deltas} {size}", turn);
            return turn;
        }));
        return Parallel(turns, start);
    }

    /// <summary>
    /// W5: a long turn whose client drops its connection after <paramref name="dropAfter"/> deltas and resumes with
    /// Last-Event-ID on <paramref name="otherStreamHub"/>.
    /// </summary>
    public async Task<ResumeResult> ResumeOnAnotherNodeAsync(int deltas, int size, int dropAfter, string otherStreamHub, Func<Guid, Task<string>> newestEventId)
    {
        var turn = new Turn(deltas, size).Send();
        var (chatId, url) = await hangar.CreateChatAsync(agentId, $"bench {deltas} {size}");
        var resumeUrl = otherStreamHub + new Uri(url).PathAndQuery;
        await using var stream = new ChatStream(http, url);
        stream.DropAfter(dropAfter, resumeUrl, () => newestEventId(chatId));
        stream.Expect(turn);
        await WaitAsync(turn, stream);
        var catchUp = stream.CaughtUpAt == 0 ? double.NaN : turn.Milliseconds(stream.ReconnectedAt, stream.CaughtUpAt);
        return new(dropAfter, catchUp, otherStreamHub, stream.Reconnects, Delivery.Of([turn]), turn.Status!);
    }

    private static Stream1Result Stream1(Turn turn)
    {
        var total = turn.Milliseconds(turn.SentAt, turn.LastDeltaAt);
        var streaming = turn.Milliseconds(turn.FirstChunkAt, turn.LastDeltaAt);
        return new(turn.Received / (total / 1000), total, turn.Milliseconds(turn.FirstChunkAt, turn.HalfAt) / streaming, Delivery.Of([turn]));
    }

    private static ParallelResult Parallel(Turn[] turns, long start)
    {
        var wall = Stopwatch.GetElapsedTime(start, turns.Max(t => t.LastDeltaAt)).TotalMilliseconds;
        return new(turns.Length, turns.Sum(t => t.Received) / (wall / 1000), wall,
            Percentiles.Of(turns.Where(t => t.FirstChunkAt > 0).Select(t => t.Milliseconds(t.SentAt, t.FirstChunkAt))), Delivery.Of(turns));
    }

    /// <summary>Waits for the turn's end; a turn that has not ended after 2 minutes is counted as timed out, with why.</summary>
    private static async Task WaitAsync(Turn turn, ChatStream? stream = null)
    {
        try
        {
            await turn.Ended.WaitAsync(TimeSpan.FromSeconds(120));
        }
        catch (TimeoutException)
        {
            var why = $"{turn.Received} of {turn.Deltas} deltas arrived in 2 minutes" +
                (stream is null ? "" : $", the stream reconnected {stream.Reconnects} times, last error: {stream.LastError ?? "none"}");
            Console.Error.WriteLine($"A turn timed out: {why}.");
            turn.End("timed out", Stopwatch.GetTimestamp(), why);
        }
    }
}
