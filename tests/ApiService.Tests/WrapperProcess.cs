using System.Diagnostics;
using System.Globalization;
using Hangar.Testing;

namespace ApiService.Tests;

/// <summary>
/// The runtime wrapper (WrapperImage) started from its build output as a deployment would start it, with Blink's
/// environment names, on loopback: it runs <c>entrypoint</c> on <c>port + 1</c> and calls ApiService at <c>upstream</c>.
/// </summary>
public sealed class WrapperProcess : IAsyncDisposable
{
    private WrapperProcess(ChildProcess process, string url)
    {
        Process = process;
        Url = url;
    }

    public ChildProcess Process { get; }

    /// <summary>The wrapper's public port, in front of the agent.</summary>
    public string Url { get; }

    public static WrapperProcess Start(string name, string entrypoint, int port, string upstream, string token, IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo("dotnet") { ArgumentList = { ServiceProcess.BuildOutput("WrapperImage", "hangar-wrapper") } };
        startInfo.Environment["ENTRYPOINT"] = entrypoint;
        startInfo.Environment["PORT"] = port.ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["HANGAR_WRAPPER_HOST"] = "127.0.0.1";
        startInfo.Environment["INTERNAL_BLINK_API_SERVER_LISTEN_PORT"] = FreePort.Next().ToString(CultureInfo.InvariantCulture);
        startInfo.Environment["INTERNAL_BLINK_API_SERVER_URL"] = upstream;
        startInfo.Environment["BLINK_DEPLOYMENT_TOKEN"] = token;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[key] = value;
        }

        return new WrapperProcess(ChildProcess.Start(name, startInfo, HangarStack.Echo), $"http://127.0.0.1:{port}");
    }

    /// <summary>Waits until the agent answers <c>/_agent/health</c> through the wrapper.</summary>
    public async Task WaitHealthyAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Process.HasExited && DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await client.GetAsync(Url + "/_agent/health")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException($"{Process.Name} did not become healthy:\n" + Process.RecentOutput());
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
