using System.Diagnostics;
using System.Text.Json;
using Hangar.Testing;
using Hangar.Redis;
using Hangar.StreamBench;

// dotnet run --project bench/StreamBench -c Release -- [--agent node|csharp|both] [--out bench-results.json] [--idle 10000] [--log services.log]
// Starts the bench agents and the stack (2 ApiService, 2 StreamHub, PostgreSQL, Redis), measures the agents directly
// (the ceiling), then runs W1–W5 through Hangar with each, checking every delta, and the idle-subscriber memory. It
// prints a table (Markdown, as in docs/benchmarks.md) and writes every figure to a JSON file.
// `agent <port>` runs the C# bench agent; the bench starts it so.
if (args is ["agent", var agentPort])
{
    await BenchAgent.RunAsync(int.Parse(agentPort, System.Globalization.CultureInfo.InvariantCulture));
    return;
}

var agentKinds = Option("--agent", "both") switch
{
    "both" => new[] { "node", "csharp" },
    var one => [one],
};
var outputPath = Option("--out", "bench-results.json");
var idleSubscribers = int.Parse(Option("--idle", "10000"), System.Globalization.CultureInfo.InvariantCulture);
var logPath = Option("--log", "");
var log = new Lock();
Action<string, string>? echo = logPath.Length == 0 ? null : (name, line) =>
{
    lock (log)
    {
        File.AppendAllText(logPath, $"[{name}] {line}\n");
    }
};

var report = new Report();
await using var agents = new BenchAgents();
foreach (var kind in agentKinds)
{
    await agents.StartAsync(kind);
}

Console.Error.WriteLine("Starting the stack: 2 ApiService and 2 StreamHub replicas, PostgreSQL, Redis.");
await using var app = await Stack.StartAsync(new StackOptions { Echo = echo });
var apiReplicas = app.Replicas("apiservice");
var hubReplicas = app.Replicas("streamhub");
using var api = HangarClient.Http(apiReplicas[0].Url, app.ApiKey);
using var http = HangarClient.Http();
var hangar = new HangarClient(api, hubReplicas[0].Url);
await using var redis = await RedisConnection.ConnectAsync(RedisOptions.Parse(app.RedisConnectionString));

// CPU is counted over each process's tree (a replica runs under `dotnet run`, PostgreSQL has a process per
// connection); memory is the service's own process. Names as before the AppHost ran on Aspire: apiservice-0, …
var replicas = apiReplicas.Select((r, i) => ($"apiservice-{i}", r)).Concat(hubReplicas.Select((r, i) => ($"streamhub-{i}", r))).ToList();
var processes = replicas.ToDictionary(r => r.Item1, r => r.r.Pid);
processes["postgres"] = await app.ServerPidAsync("postgres");
processes["redis"] = await app.ServerPidAsync("redis");
var serviceProcesses = replicas.ToDictionary(r => r.Item1, r => Stack.ServiceProcessOf(r.r));
var services = serviceProcesses.Keys.ToList();

if (idleSubscribers > 0)
{
    // First, on a StreamHub nothing has run on yet.
    Console.Error.WriteLine($"Idle subscribers: {idleSubscribers} on streamhub-1.");
    var agentId = await hangar.CreateAgentAsync("idle", agents.Url(agentKinds[0]));
    report.Idle = await IdleSubscribers.MeasureAsync(hangar, agentId, idleSubscribers, hubReplicas[1].Url, serviceProcesses["streamhub-1"]);
}

foreach (var kind in agentKinds)
{
    Console.Error.WriteLine($"Agent {kind}: direct, then through Hangar.");
    var agentId = await hangar.CreateAgentAsync($"bench-{kind}", agents.Url(kind));
    var run = new Workloads(hangar, http, agentId, agents.Url(kind));
    var result = new AgentResult(kind);
    report.Agents.Add(result);
    var pids = new Dictionary<string, int>(processes) { ["agent"] = agents.Pid(kind), ["bench client"] = Environment.ProcessId };

    // A first pass that does not count: the services start cold, and tiered compilation (tier 0, then instrumented,
    // then optimized code) takes seconds of CPU in each while the first hundred thousand chunks flow.
    await RunAllAsync(run, new AgentResult(kind), pids);
    await RunAllAsync(run, result, pids);
    result.PeakRss = services.ToDictionary(s => s, s => ProcessStats.PeakRssMiB(serviceProcesses[s]));
}

report.Print(Console.Out);
await File.WriteAllTextAsync(outputPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
Console.WriteLine($"\nEvery figure: {Path.GetFullPath(outputPath)}");

async Task RunAllAsync(Workloads run, AgentResult result, Dictionary<string, int> pids)
{
    for (var i = 0; i < 3; i++)
    {
        result.DirectW1.Add(await run.OneStreamDirectAsync(20000, 8));
    }

    for (var i = 0; i < 2; i++)
    {
        result.DirectW3.Add(await run.ParallelDirectAsync(50, 2000, 8));
    }

    for (var i = 0; i < 3; i++)
    {
        var cpu = Cpu.Snapshot(pids);
        result.W1.Add(await run.OneStreamAsync(20000, 8));
        result.CpuW1.Add(cpu.PerThousand(pids, 20000));
    }

    (result.W2, var w2Chat) = await run.SequentialTurnsAsync(200, "bench 10 8", 10, app.PostgresConnectionString);
    result.DirectW2 = await run.SequentialDirectAsync(await hangar.MessagesAsync(w2Chat), 10);
    for (var i = 0; i < 3; i++)
    {
        var cpu = Cpu.Snapshot(pids);
        result.W3.Add(await run.ParallelAsync(50, 2000, 8));
        result.CpuW3.Add(cpu.PerThousand(pids, 50 * 2000));
        result.RssAfterW3.Add(services.ToDictionary(s => s, s => ProcessStats.RssMiB(serviceProcesses[s])));
    }

    result.MemoryAfterW3 = services.ToDictionary(s => s, s => ProcessStats.MemoryShareMiB(serviceProcesses[s]));

    (result.W4, _) = await run.SequentialTurnsAsync(50, "tool", 1, app.PostgresConnectionString);
    result.W5 = await run.ResumeOnAnotherNodeAsync(20000, 8, 5000, hubReplicas[1].Url, async chatId =>
        (await redis.ExecuteAsync("XREVRANGE", Hangar.Contracts.ChatEvents.StreamKey(chatId), "+", "-", "COUNT", 1))[0][0].AsString()!);
}

string Option(string name, string fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
}

/// <summary>CPU seconds of a set of processes at one moment.</summary>
internal sealed class Cpu(Dictionary<string, double> seconds)
{
    public static Cpu Snapshot(Dictionary<string, int> pids) => new(Read(pids));

    /// <summary>CPU milliseconds per 1,000 chunks of each process since the snapshot.</summary>
    public Dictionary<string, double> PerThousand(Dictionary<string, int> pids, int chunks) =>
        Read(pids).ToDictionary(p => p.Key, p => (p.Value - seconds[p.Key]) * 1000 / (chunks / 1000.0));

    private static Dictionary<string, double> Read(Dictionary<string, int> pids)
    {
        var byPid = ProcessStats.CpuSeconds(pids.Values);
        return pids.ToDictionary(p => p.Key, p => byPid[p.Value]);
    }
}

/// <summary>The bench agents as processes on loopback ports: the Blink SDK one in Node, and the C# one.</summary>
internal sealed class BenchAgents : IAsyncDisposable
{
    private readonly Dictionary<string, (ChildProcess Process, string Url)> _running = [];

    public string Url(string kind) => _running[kind].Url;

    public int Pid(string kind) => _running[kind].Process.Id;

    public async Task StartAsync(string kind)
    {
        var port = FreePort.Next();
        var root = ServiceProcess.RepositoryRoot;
        var startInfo = kind switch
        {
            "node" => new ProcessStartInfo("node", [Path.Combine(root, "bench", "agents", "blink-bench", "bench-agent.mjs")])
            {
                Environment = { ["HOST"] = "127.0.0.1", ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            },
            "csharp" => new ProcessStartInfo("dotnet", [typeof(BenchAgents).Assembly.Location, "agent", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]),
            _ => throw new ArgumentException($"Unknown agent '{kind}': node or csharp."),
        };
        if (kind == "node" && !Directory.Exists(Path.Combine(root, "bench", "agents", "blink-bench", "node_modules")))
        {
            throw new InvalidOperationException("The Node bench agent's packages are missing: npm ci --prefix bench/agents/blink-bench");
        }

        var process = ChildProcess.Start($"agent-{kind}", startInfo);
        _running[kind] = (process, $"http://127.0.0.1:{port}");
        await FreePort.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(30), () => process.RecentOutput());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (process, _) in _running.Values)
        {
            await process.DisposeAsync();
        }
    }
}
