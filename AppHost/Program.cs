using System.Runtime.InteropServices;
using Hangar.AppHost;
using Hangar.AppHost.Resources;
using Microsoft.Extensions.Configuration;

// dotnet run --project AppHost: the whole stack on this machine, data kept in .data/ under the repository.
var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
var options = configuration.GetSection(HangarAppOptions.Section).Get<HangarAppOptions>() ?? new HangarAppOptions();
options.DataDirectory ??= Path.Combine(ServiceProcess.RepositoryRoot, ".data");
options.ApiPort ??= 5080;
options.StreamHubPort ??= 5081;

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
        var state = resource.Process is null ? "external" : "running";
        Console.WriteLine($"{resource.Name.PadRight(width)} {state,-8} {resource.Endpoint}");
    }

    Console.WriteLine();
    Console.WriteLine($"API key:  {app.ApiKey}");
    Console.WriteLine($"Try:      curl -H 'Authorization: Bearer {app.ApiKey}' {app.ApiUrls[0]}/api/agents");
    Console.WriteLine("Ctrl+C stops everything.");
    Console.WriteLine();
}

var exited = app.Resources.Where(r => r.Process is not null).Select(async r =>
{
    await r.Process!.WaitForExitAsync(stopping.Token);
    return r;
});
try
{
    var crashed = await await Task.WhenAny(exited);
    Console.Error.WriteLine($"{crashed.Name} exited with code {crashed.Process!.ExitCode}; stopping the stack.");
    Environment.ExitCode = 1;
}
catch (OperationCanceledException)
{
    Console.WriteLine("Stopping …");
}

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stopping.Cancel();
}
