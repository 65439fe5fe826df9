using System.Buffers.Text;
using System.Diagnostics;

namespace Hangar.StreamBench;

/// <summary>
/// One turn as the client sees it: when it was sent, when its first chunk, its middle delta and its end arrived, and
/// every text delta checked against what the bench agent sends (delta <c>i</c> is <c>i</c> padded with zeros to
/// <see cref="Size"/> bytes), so lost, repeated and garbled deltas are counted, not guessed.
/// </summary>
internal sealed class Turn(int deltas, int size)
{
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _next;

    public int Deltas => deltas;

    public int Size => size;

    public long SentAt { get; private set; }

    /// <summary>The wall-clock time of <see cref="SentAt"/>, to compare with the times Hangar stores.</summary>
    public DateTimeOffset SentUtc { get; private set; }

    public DateTimeOffset FirstChunkUtc => SentUtc + Stopwatch.GetElapsedTime(SentAt, FirstChunkAt);

    /// <summary>Marks the moment the turn's message goes out.</summary>
    public Turn Send()
    {
        SentUtc = DateTimeOffset.UtcNow;
        SentAt = Stopwatch.GetTimestamp();
        return this;
    }

    public long FirstChunkAt { get; private set; }

    /// <summary>When half of the deltas had arrived.</summary>
    public long HalfAt { get; private set; }

    public long LastDeltaAt { get; private set; }

    public long EndedAt { get; private set; }

    public string? Status { get; private set; }

    public int Received { get; private set; }

    public int Lost { get; private set; }

    public int Duplicated { get; private set; }

    public int Garbled { get; private set; }

    public int Resets { get; set; }

    public Task Ended => _ended.Task;

    /// <summary>A chunk's JSON: the agent's own, or a Hangar event that carries it.</summary>
    public void OnChunk(ReadOnlySpan<byte> json, long now)
    {
        if (FirstChunkAt == 0)
        {
            FirstChunkAt = now;
        }

        if (TryReadDelta(json, out var delta))
        {
            OnDelta(delta, now);
        }
    }

    /// <summary>Why the run failed, when it did.</summary>
    public string? Error { get; private set; }

    public void End(string status, long now, string? error = null)
    {
        EndedAt = now;
        Status = status;
        Error = error;
        Lost += Math.Max(0, deltas - _next);
        _ended.TrySetResult();
    }

    public double Milliseconds(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    private void OnDelta(ReadOnlySpan<byte> delta, long now)
    {
        Received++;
        LastDeltaAt = now;
        if (Received == deltas / 2)
        {
            HalfAt = now;
        }

        if (delta.Length != size || !Utf8Parser.TryParse(delta, out int index, out var consumed) || consumed != size)
        {
            Garbled++;
            return;
        }

        var expected = Expected(_next, size);
        if (index == expected)
        {
            _next++;
        }
        else if (index < expected)
        {
            Duplicated++;
        }
        else
        {
            Lost += index - expected;
            _next += index - expected + 1;
        }
    }

    /// <summary>The number delta <paramref name="i"/> carries: <paramref name="i"/>'s last <paramref name="size"/> digits.</summary>
    private static int Expected(int i, int size) => size >= 10 ? i : (int)(i % (long)Math.Pow(10, size));

    /// <summary>
    /// Whether the chunk is a <c>text-delta</c>, and its delta. Found by their keys with vectorized searches rather than
    /// a JSON reader, which cost the client more CPU per chunk than Hangar spends: the bench agents write these keys
    /// once per chunk, and a delta of digits needs no unescaping.
    /// </summary>
    public static bool TryReadDelta(ReadOnlySpan<byte> json, out ReadOnlySpan<byte> delta)
    {
        delta = default;
        if (json.IndexOf("\"type\":\"text-delta\""u8) < 0)
        {
            return false;
        }

        var at = json.IndexOf("\"delta\":\""u8);
        if (at >= 0)
        {
            var value = json[(at + 9)..];
            var end = value.IndexOf((byte)'"');
            delta = end < 0 ? value : value[..end];
        }

        return true;
    }
}
