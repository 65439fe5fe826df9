using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Hangar.Testing;

// dotnet run --project bench/DeployBench -c Release -- [docker|process] [deployments]
// Starts the stack with one Deployer of the given runtime, then uploads the Blink SDK echo agent (as `blink build`
// bundles it) again and again, timing each from the upload to the deployment answering /_agent/health (status running),
// and the first chat after it.
var runtime = args.Length > 0 ? args[0] : "docker";
var count = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5;
var bundleDirectory = Path.Combine(ServiceProcess.RepositoryRoot, "tests", "agents", "blink-echo", ".blink", "build");

await using var app = await Stack.StartAsync(new StackOptions { ApiReplicas = 1, StreamHubReplicas = 1, DeployerRuntime = runtime });
using var api = app.CreateHttpClient(app.ApiUrl);
var agent = await (await api.PostAsJsonAsync("/api/agents", new { name = "bench" })).Content.ReadFromJsonAsync<JsonObject>();
var agentId = agent!["id"]!.ToString();

using var archive = new MemoryStream();
using (var gzip = new GZipStream(archive, CompressionLevel.Fastest, leaveOpen: true))
{
    TarFile.CreateFromDirectory(bundleDirectory, gzip, includeBaseDirectory: false);
}

Console.WriteLine($"runtime {runtime}, bundle {archive.Length / 1024} KiB gzipped, {count} deployments");
Console.WriteLine($"{"#",3} {"upload answered",16} {"healthy",10} {"first chat",11}");
var healthy = new List<double>();
for (var i = 1; i <= count; i++)
{
    var clock = Stopwatch.StartNew();
    using var form = new MultipartFormDataContent
    {
        { new ByteArrayContent(archive.ToArray()), "bundle", "bundle.tar.gz" },
        { new StringContent("echo-agent.js"), "entrypoint" },
        { new StringContent(runtime), "runtime" },
    };
    var created = await api.PostAsync($"/api/agents/{agentId}/deployments", form);
    var deployment = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
    var answered = clock.Elapsed.TotalMilliseconds;
    while (true)
    {
        var current = await api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/deployments/{deployment["id"]}");
        var status = current!["status"]!.ToString();
        if (status == "running")
        {
            break;
        }

        if (status == "failed" || clock.Elapsed > TimeSpan.FromSeconds(60))
        {
            throw new InvalidOperationException($"Deployment {i} did not become healthy: {current.ToJsonString()}");
        }

        await Task.Delay(10);
    }

    var ready = clock.Elapsed.TotalMilliseconds;
    healthy.Add(ready);
    var chat = Stopwatch.StartNew();
    var sent = await api.PostAsJsonAsync("/api/chats", new
    {
        agent_id = agentId,
        messages = new[] { new { role = "user", parts = new[] { new { type = "text", text = "hello" } } } },
    });
    var chatId = (await sent.Content.ReadFromJsonAsync<JsonObject>())!["chat"]!["id"]!.ToString();
    while ((await api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/runs"))!.FirstOrDefault()?["status"]?.ToString() is not ("completed" or "failed"))
    {
        await Task.Delay(5);
    }

    Console.WriteLine($"{i,3} {answered,13:0} ms {ready,7:0} ms {chat.Elapsed.TotalMilliseconds,8:0} ms");
}

healthy.Sort();
Console.WriteLine($"upload to healthy: median {healthy[healthy.Count / 2]:0} ms, min {healthy[0]:0} ms, max {healthy[^1]:0} ms");
