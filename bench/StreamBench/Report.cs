using System.Globalization;

namespace Hangar.StreamBench;

/// <summary>Everything measured with one bench agent.</summary>
internal sealed class AgentResult(string agent)
{
    public string Agent { get; } = agent;

    public List<Stream1Result> DirectW1 { get; } = [];

    public List<ParallelResult> DirectW3 { get; } = [];

    public List<Stream1Result> W1 { get; } = [];

    public TurnsResult DirectW2 { get; set; } = null!;

    public TurnsResult W2 { get; set; } = null!;

    public List<ParallelResult> W3 { get; } = [];

    public TurnsResult W4 { get; set; } = null!;

    public ResumeResult W5 { get; set; } = null!;

    /// <summary>CPU milliseconds per 1,000 chunks of each process, per repetition.</summary>
    public List<Dictionary<string, double>> CpuW1 { get; } = [];

    public List<Dictionary<string, double>> CpuW3 { get; } = [];

    /// <summary>Each service's resident memory after each W3 repetition, MiB.</summary>
    public List<Dictionary<string, double>> RssAfterW3 { get; } = [];

    public Dictionary<string, double> PeakRss { get; set; } = [];

    /// <summary>Each service's proportional share of memory and its shared clean pages after the last W3 repetition.</summary>
    public Dictionary<string, MemoryShare> MemoryAfterW3 { get; set; } = [];
}

/// <summary>The figures, as Markdown tables against issue 6's targets.</summary>
internal sealed class Report
{
    private static readonly string[] Platform = ["apiservice-0", "apiservice-1", "streamhub-0", "streamhub-1", "redis", "postgres"];

    public List<AgentResult> Agents { get; } = [];

    public IdleResult? Idle { get; set; }

    public void Print(TextWriter output)
    {
        foreach (var a in Agents)
        {
            var directW1 = Median(a.DirectW1, r => r.ChunksPerSecond);
            var w1 = Median(a.W1, r => r.ChunksPerSecond);
            var directW3 = Median(a.DirectW3, r => r.AggregateChunksPerSecond);
            var w3 = Median(a.W3, r => r.AggregateChunksPerSecond);
            var cpuW1 = MedianOf(a.CpuW1, c => Sum(c, Platform));
            var cpuW3 = MedianOf(a.CpuW3, c => Sum(c, Platform));
            var delivered = Delivery.Sum([.. a.W1.Select(r => r.Delivery), a.W2.Delivery, .. a.W3.Select(r => r.Delivery), a.W4.Delivery]);
            output.WriteLine($"\n### Agent: {(a.Agent == "node" ? "Node, Blink SDK" : "C#")}\n");
            output.WriteLine("| figure | agent directly | Hangar | target | met |");
            output.WriteLine("| --- | --- | --- | --- | --- |");
            Row(output, "W1 chunks/s at the client (median of 3)", N(directW1.ChunksPerSecond), $"{N(w1.ChunksPerSecond)} ({w1.ChunksPerSecond / directW1.ChunksPerSecond:P0})", "≥ 90 % of direct", w1.ChunksPerSecond >= 0.9 * directW1.ChunksPerSecond);
            Row(output, "W1 send to last chunk", Ms(directW1.SendToLastMs), Ms(w1.SendToLastMs), "", null);
            Row(output, "W1 half the chunks arrived at (share of first-to-last chunk time)", F(directW1.HalfOfChunksAtFractionOfTime), F(w1.HalfOfChunksAtFractionOfTime), "≤ 0.55 (smooth)", w1.HalfOfChunksAtFractionOfTime <= 0.55);
            Row(output, "W2 send to first chunk p50 / p95 / p99", P(a.DirectW2.FirstChunkMs), P(a.W2.FirstChunkMs), "≤ 5 / – / 15 ms", a.W2.FirstChunkMs.P50 <= 5 && a.W2.FirstChunkMs.P99 <= 15);
            Row(output, "W2 send to idle p50 / p95 / p99", P(a.DirectW2.EndMs), P(a.W2.EndMs), "", null);
            Row(output, "W2 first chunk, median legs: API commit / claim / step start / agent / Redis and StreamHub to client", "", Legs(a.W2.Breakdown!), "", null);
            Row(output, "W3 aggregate chunks/s, 50 chats (median)", N(directW3.AggregateChunksPerSecond), $"{N(w3.AggregateChunksPerSecond)} ({w3.AggregateChunksPerSecond / directW3.AggregateChunksPerSecond:P0})", "≥ 90 % of direct", w3.AggregateChunksPerSecond >= 0.9 * directW3.AggregateChunksPerSecond);
            Row(output, "W3 first chunk p99 (worst repetition)", Ms(a.DirectW3.Max(r => r.FirstChunkMs.P99)), Ms(a.W3.Max(r => r.FirstChunkMs.P99)), "≤ 250 ms", a.W3.Max(r => r.FirstChunkMs.P99) <= 250);
            Row(output, "W4 tool-call turn p50 / p95 / p99", "", P(a.W4.EndMs), "≤ 15 / – / 40 ms", a.W4.EndMs.P50 <= 15 && a.W4.EndMs.P99 <= 40);
            Row(output, "W4 first chunk, median legs (as W2)", "", Legs(a.W4.Breakdown!), "", null);
            Row(output, $"W5 lost / duplicated after resuming on {new Uri(a.W5.ResumedOn).Port} (another StreamHub)", "", $"{a.W5.Delivery.Lost} / {a.W5.Delivery.Duplicated} ({a.W5.Delivery.Received} of {a.W5.Delivery.Expected}, run {a.W5.Status})", "0 / 0", a.W5.Delivery.Exact);
            Row(output, "W5 catch-up: reconnect to the newest event at that moment", "", Ms(a.W5.CatchUpMs), "", null);
            Row(output, "W1–W4 deltas checked: lost / duplicated / garbled / resets / runs not completed", "",
                $"{N(delivered.Received)}: {delivered.Lost} / {delivered.Duplicated} / {delivered.Garbled} / {delivered.Resets} / {delivered.NotCompleted}{(delivered.Error is { } error ? $" ({error})" : "")}",
                "all 0", delivered.Exact && delivered.Resets == 0);
            Row(output, "CPU per 1,000 chunks, W1: services + Redis + PostgreSQL", "", Ms(cpuW1), "≤ 10 ms", cpuW1 <= 10);
            Row(output, "CPU per 1,000 chunks, W3: services + Redis + PostgreSQL", "", Ms(cpuW3), "≤ 10 ms", cpuW3 <= 10);
            Row(output, "RSS after each W3 repetition, MiB", "", string.Join("; ", a.RssAfterW3.Select(r => string.Join(" ", r.Values.Select(v => v.ToString("0", CultureInfo.InvariantCulture))))), "flat", null);
            Row(output, "peak RSS per service, MiB", "", string.Join(", ", a.PeakRss.Select(p => $"{p.Key} {p.Value:0}")), "≤ 150", a.PeakRss.Values.All(v => v <= 150));
            Row(output, "after W3: proportional share (Pss) / shared runtime code in the RSS, MiB", "",
                string.Join(", ", a.MemoryAfterW3.Select(p => $"{p.Key} {p.Value.Pss:0} / {p.Value.SharedClean:0}")), "", null);

            output.WriteLine("\nCPU milliseconds per 1,000 chunks, by process (median repetition):\n");
            output.WriteLine("| process | W1 | W3 |");
            output.WriteLine("| --- | --- | --- |");
            foreach (var process in a.CpuW1[0].Keys)
            {
                output.WriteLine($"| {process} | {MedianOf(a.CpuW1, c => c[process]):0.0} | {MedianOf(a.CpuW3, c => c[process]):0.0} |");
            }
        }

        if (Idle is { } idle)
        {
            output.WriteLine($"\nIdle SSE subscribers: {N(idle.Subscribers)} on one StreamHub, each on its own chat: RSS {idle.RssBeforeMiB:0} MiB before, " +
                $"{idle.RssWithSubscribersMiB:0} MiB with them, {idle.KiBPerSubscriber:0.0} KiB each (target ≤ 20 KB: {(idle.KiBPerSubscriber * 1.024 <= 20 ? "met" : "missed")}); " +
                $"{idle.RssAfterCloseMiB:0} MiB after they closed.");
        }
    }

    private static void Row(TextWriter output, string figure, string direct, string hangar, string target, bool? met) =>
        output.WriteLine($"| {figure} | {direct} | {hangar} | {target} | {(met is null ? "" : met.Value ? "yes" : "**no**")} |");

    private static T Median<T>(List<T> runs, Func<T, double> by) => runs.OrderBy(by).ElementAt(runs.Count / 2);

    private static double MedianOf<T>(List<T> runs, Func<T, double> value) => runs.Select(value).Order().ElementAt(runs.Count / 2);

    private static double Sum(Dictionary<string, double> cpu, string[] names) => names.Where(cpu.ContainsKey).Sum(n => cpu[n]);

    private static string N(double value) => value.ToString("#,0", CultureInfo.InvariantCulture);

    private static string F(double value) => value.ToString("0.00", CultureInfo.InvariantCulture);

    private static string Ms(double value) => value.ToString(value < 10 ? "0.0" : "#,0", CultureInfo.InvariantCulture) + " ms";

    private static string Legs(Breakdown b) =>
        $"{b.SendToRunCreated:0.0} / {b.RunCreatedToClaimed:0.0} / {b.ClaimedToStepStarted:0.0} / {b.StepStartedToAgentFirstChunk:0.0} / {b.AgentFirstChunkToClient:0.0} ms";

    private static string P(Percentiles p) => $"{p.P50:0.0} / {p.P95:0.0} / {p.P99:0.0} ms";
}
