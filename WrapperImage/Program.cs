using System.Runtime.InteropServices;
using Hangar.Wrapper;

// The runtime wrapper (ARCHITECTURE.md, "Deployments and the runtime wrapper"): one process in front of the agent.
WrapperOptions options;
try
{
    options = WrapperOptions.FromEnvironment(Environment.GetEnvironmentVariable);
}
catch (WrapperConfigurationException ex)
{
    await Console.Error.WriteLineAsync($"[hangar-wrapper] {ex.Message}");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(System.Net.IPAddress.Parse(options.Host), options.Port);
    kestrel.Listen(System.Net.IPAddress.Loopback, options.InternalApiPort);
    kestrel.Limits.MaxRequestBodySize = null;
});

var upstream = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(10) })
{
    BaseAddress = options.Upstream,
    Timeout = TimeSpan.FromMinutes(2),
};
var tokens = new InvocationTokens();
var logs = new LogShipper(upstream, options.DeploymentToken, options.StructuredLogs);
var proxy = new AgentProxy(options, tokens);

var app = builder.Build();

// Requests are told apart by the port they came in on, never by their Host header: behind a published port or a
// proxy the agent's port is not the one the client saw.
app.Use((HttpContext context, RequestDelegate next) => context.Connection.LocalPort == options.Port ? proxy.ForwardAsync(context) : next(context));
app.UseRouting();
new InternalApi(upstream, options.DeploymentToken, tokens).Map(app);

// The agent starts while the server does: both take a moment, and the agent only calls back once it serves requests.
var shipping = logs.RunAsync();
AgentProcess agent;
try
{
    agent = AgentProcess.Start(options, logs);
}
catch (WrapperConfigurationException ex)
{
    await Console.Error.WriteLineAsync($"[hangar-wrapper] {ex.Message}");
    logs.Add($"[hangar-wrapper] {ex.Message}", stderr: true);
    logs.Complete();
    await shipping;
    return 2;
}

await app.StartAsync();

// SIGTERM (docker stop) and SIGINT go to the agent; the wrapper ends when the agent does, or kills it after the timeout.
using var stopping = new CancellationTokenSource();
void Stop(PosixSignalContext signal)
{
    signal.Cancel = true;
    agent.Terminate();
    stopping.CancelAfter(options.StopTimeout);
}

using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
stopping.Token.Register(agent.Kill);

var exitCode = await agent.Exited;
await Console.Error.WriteLineAsync($"[hangar-wrapper] the agent exited with code {exitCode}");
logs.Complete();
try
{
    await shipping.WaitAsync(TimeSpan.FromSeconds(10));
}
catch (TimeoutException)
{
    await Console.Error.WriteLineAsync("[hangar-wrapper] the platform took too long to take the last log lines");
}

await app.StopAsync(TimeSpan.FromSeconds(2));
agent.Dispose();
return exitCode;
