using System.Runtime.InteropServices;
using Hangar.AppHost;
using Hangar.AppHost.Publishing;
using Hangar.AppHost.Resources;
using Microsoft.Extensions.Configuration;

// dotnet run --project AppHost: the whole stack on this machine, data kept in .data/ under the repository.
// dotnet run --project AppHost -- publish compose|kubernetes [--output DIR] [--skip-build] …: files to run it elsewhere.
if (args is ["publish", .. var publishArgs])
{
    return await Publish.RunAsync(publishArgs);
}

var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
var options = configuration.GetSection(HangarAppOptions.Section).Get<HangarAppOptions>() ?? new HangarAppOptions();
options.DataDirectory ??= Path.Combine(ServiceProcess.RepositoryRoot, ".data");
options.ApiPort ??= 5080;
options.StreamHubPort ??= 5081;
options.DashboardPort ??= 18888;
options.OtlpEndpoint ??= configuration["OTEL_EXPORTER_OTLP_ENDPOINT"];
options.OtlpProtocol = configuration["OTEL_EXPORTER_OTLP_PROTOCOL"] ?? options.OtlpProtocol;

using var stopping = new CancellationTokenSource();
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

var width = 12;
var output = new Lock();
void Echo(string name, string line)
{
    lock (output)
    {
        Console.WriteLine($"{name.PadRight(width)}| {line}");
    }
}

Console.WriteLine($"Starting Hangar (data in {options.DataDirectory}) …");
await using var app = await HangarApp.StartAsync(options, Echo, stopping.Token);
lock (output)
{
    Console.WriteLine();
    Console.WriteLine($"{"resource".PadRight(width)} {"state",-8} endpoint");
    foreach (var resource in app.Resources)
    {
        Console.WriteLine($"{resource.Name.PadRight(width)} {resource.State,-8} {resource.Endpoint}");
    }

    Console.WriteLine();
    Console.WriteLine($"API key:  {app.ApiKey}");
    Console.WriteLine($"Try:      curl -H 'Authorization: Bearer {app.ApiKey}' {app.ApiUrls[0]}/api/agents");
    Console.WriteLine($"Logs:     {app.Logs.Directory}/<resource>.log");
    if (app.DashboardLoginUrl is { } dashboard)
    {
        Console.WriteLine($"Dashboard: {dashboard}");
    }

    Console.WriteLine("Ctrl+C stops everything.");
    Console.WriteLine();
}

// A service that crashes is restarted by the app (and reported above); this only waits for Ctrl+C.
await Task.Delay(Timeout.Infinite, stopping.Token).ContinueWith(_ => { }, CancellationToken.None);
Console.WriteLine("Stopping …");

return 0;

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stopping.Cancel();
}
