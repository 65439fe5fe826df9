using System.Diagnostics;
using System.Globalization;
using Hangar.Testing;

// dotnet run --project bench/WrapperBench -c Release [-- <hangar-wrapper executable or dll>]
// The plain Node agent (tests/agents/plain) is measured called directly and through the wrapper, on loopback. The
// wrapper ships logs to a local sink that answers 200, so the figures hold the wrapper alone.
var wrapper = args.Length > 0 ? Path.GetFullPath(args[0]) : ServiceProcess.BuildOutput("WrapperImage", "hangar-wrapper");
var agent = Path.Combine(ServiceProcess.RepositoryRoot, "tests", "agents", "plain", "agent.mjs");
const int Deltas = 20_000;
const int Turns = 200;
const int Starts = 5;

await using var sink = await LogSink.StartAsync();
using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
Console.WriteLine($"wrapper: {wrapper}");

var directStarts = new List<double>();
var wrappedStarts = new List<double>();
for (var i = 0; i < Starts; i++)
{
    await using (var direct = Agent(Direct(FreePort.Next(), 0)))
    {
        directStarts.Add(await UntilHealthyAsync(direct));
    }

    await using (var wrapped = Agent(Wrapped(FreePort.NextPair(), 0)))
    {
        wrappedStarts.Add(await UntilHealthyAsync(wrapped));
    }
}

Console.WriteLine($"start to healthy, median of {Starts}: direct {Median(directStarts):0} ms, through the wrapper {Median(wrappedStarts):0} ms");

var table = new List<string[]>();
foreach (var (name, start) in new (string, Func<int, int, StartedAgent>)[] { ("direct", Direct), ("wrapper", Wrapped) })
{
    await using var streaming = Agent(start(FreePort.NextPair(), Deltas));
    await UntilHealthyAsync(streaming);
    await StreamAsync(streaming.Url);
    var cpuBefore = CpuSeconds(streaming.Process);
    var clock = Stopwatch.StartNew();
    var chunks = await StreamAsync(streaming.Url);
    var seconds = clock.Elapsed.TotalSeconds;
    var wrapperCpu = name == "wrapper" ? $"{(CpuSeconds(streaming.Process) - cpuBefore) * 1000 / chunks * 1000:0.0} ms" : "-";

    await using var turns = Agent(start(FreePort.NextPair(), 1));
    await UntilHealthyAsync(turns);
    for (var i = 0; i < 20; i++)
    {
        await StreamAsync(turns.Url);
    }

    var latencies = new List<double>();
    for (var i = 0; i < Turns; i++)
    {
        var turn = Stopwatch.StartNew();
        await StreamAsync(turns.Url);
        latencies.Add(turn.Elapsed.TotalMilliseconds);
    }

    latencies.Sort();
    table.Add([name, $"{chunks / seconds:0}", $"{seconds * 1000:0}", $"{latencies[Turns / 2]:0.00}", $"{latencies[Turns * 99 / 100]:0.00}", wrapperCpu, $"{Rss(turns.Process) / 1024.0 / 1024:0.0} MiB"]);
}

Console.WriteLine();
Console.WriteLine($"{"",-8} {"chunks/s",10} {"20k deltas",11} {"turn p50",9} {"turn p99",9} {"CPU/1k chunks",14} {"RSS",10}");
foreach (var row in table)
{
    Console.WriteLine($"{row[0],-8} {row[1],10} {row[2] + " ms",11} {row[3] + " ms",9} {row[4] + " ms",9} {row[5],14} {row[6],10}");
}

Console.WriteLine($"wrapper size on disk: {DirectorySize(Path.GetDirectoryName(wrapper)!) / 1024.0 / 1024:0} MiB ({Path.GetDirectoryName(wrapper)})");
Console.WriteLine("(RSS is the process measured: node for direct, the wrapper alone for wrapper; CPU is the wrapper's own.)");
return 0;

StartedAgent Direct(int port, int ticks)
{
    var start = new ProcessStartInfo("node") { ArgumentList = { agent } };
    start.Environment["PORT"] = port.ToString(CultureInfo.InvariantCulture);
    start.Environment["TICKS"] = ticks.ToString(CultureInfo.InvariantCulture);
    start.Environment["TICK_MS"] = "0";
    return new StartedAgent(start, $"http://127.0.0.1:{port}");
}

StartedAgent Wrapped(int port, int ticks)
{
    var start = wrapper.EndsWith(".dll", StringComparison.Ordinal) ? new ProcessStartInfo("dotnet") { ArgumentList = { wrapper } } : new ProcessStartInfo(wrapper);
    start.Environment["ENTRYPOINT"] = agent;
    start.Environment["PORT"] = port.ToString(CultureInfo.InvariantCulture);
    start.Environment["HANGAR_WRAPPER_HOST"] = "127.0.0.1";
    start.Environment["INTERNAL_BLINK_API_SERVER_LISTEN_PORT"] = FreePort.Next().ToString(CultureInfo.InvariantCulture);
    start.Environment["INTERNAL_BLINK_API_SERVER_URL"] = sink.Url;
    start.Environment["BLINK_DEPLOYMENT_TOKEN"] = "hgd_bench";
    start.Environment["TICKS"] = ticks.ToString(CultureInfo.InvariantCulture);
    start.Environment["TICK_MS"] = "0";
    return new StartedAgent(start, $"http://127.0.0.1:{port}");
}

Running Agent(StartedAgent agent) => new(ChildProcess.Start("agent", agent.Start), agent.Url, Stopwatch.StartNew());

async Task<double> UntilHealthyAsync(Running running)
{
    while (true)
    {
        try
        {
            if ((await http.GetAsync(running.Url + "/_agent/health")).IsSuccessStatusCode)
            {
                return running.Clock.Elapsed.TotalMilliseconds;
            }
        }
        catch (HttpRequestException) when (!running.Process.HasExited)
        {
        }

        await Task.Delay(2);
    }
}

async Task<int> StreamAsync(string url)
{
    using var response = await http.PostAsJsonAsync(url + "/_agent/chat", new { id = "bench", messages = Array.Empty<object>() });
    await using var body = await response.Content.ReadAsStreamAsync();
    using var reader = new StreamReader(body);
    var count = 0;
    while (await reader.ReadLineAsync() is { } line)
    {
        if (line.StartsWith("data: {\"type\":\"text-delta\"", StringComparison.Ordinal))
        {
            count++;
        }
    }

    return count;
}

static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

static double CpuSeconds(ChildProcess process)
{
    // utime and stime of /proc/<pid>/stat, in clock ticks (100 per second on Linux).
    var fields = File.ReadAllText($"/proc/{process.Id}/stat").Split(") ")[1].Split(' ');
    return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
}

static long Rss(ChildProcess process) =>
    long.Parse(File.ReadLines($"/proc/{process.Id}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

static long DirectorySize(string directory) => new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

internal sealed record StartedAgent(ProcessStartInfo Start, string Url);

internal sealed record Running(ChildProcess Process, string Url, Stopwatch Clock) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Process.DisposeAsync();
}

/// <summary>Takes the wrapper's log batches and answers 200, as ApiService would.</summary>
internal sealed class LogSink(WebApplication app, string url) : IAsyncDisposable
{
    public string Url { get; } = url;

    public static async Task<LogSink> StartAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.MapPost("/api/otlp/v1/logs", () => Results.Ok());
        await app.StartAsync();
        return new LogSink(app, $"http://127.0.0.1:{port}");
    }

    public ValueTask DisposeAsync() => app.DisposeAsync();
}
