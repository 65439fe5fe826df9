using System.Diagnostics;
using System.Text.Json.Nodes;
using Hangar.AppHost.Resources;

namespace ApiService.Tests;

/// <summary>
/// The recorded echo agent (tests/agents/blink-echo/echo-agent.mjs), written with the real <c>blink</c> npm SDK and the
/// AI SDK's mock model, run with Node on a loopback port behind a <see cref="RecordingProxy"/>; and the AI SDK's own
/// fold of a UI message stream.
/// </summary>
public sealed class BlinkSdkAgent : IAsyncLifetime
{
    private static readonly string Directory = Path.Combine(ServiceProcess.RepositoryRoot, "tests", "agents", "blink-echo");

    private ChildProcess? _node;

    /// <summary>Forwards to the agent and records every call: point Hangar at <c>Proxy.Url</c>.</summary>
    public RecordingProxy? Proxy { get; private set; }

    public string Url => Proxy!.Url;

    /// <summary>The agent's <c>BLINK_API_URL</c>: a stand-in for the wrapper's internal API.</summary>
    public WrapperShim? Shim { get; private set; }

    public async ValueTask InitializeAsync()
    {
        EnsureInstalled();
        Shim = await WrapperShim.StartAsync();
        var port = FreePort.Next();
        var url = $"http://127.0.0.1:{port}";
        var startInfo = new ProcessStartInfo("node") { ArgumentList = { "echo-agent.mjs" }, WorkingDirectory = Directory };
        startInfo.Environment["HOST"] = "127.0.0.1";
        startInfo.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        startInfo.Environment["BLINK_API_URL"] = Shim.Url;
        var node = _node = ChildProcess.Start("blink-echo", startInfo);
        Proxy = await RecordingProxy.StartAsync(url);
        using var client = new HttpClient();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                if ((await client.GetAsync(url + "/_agent/health")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline && !node.HasExited)
            {
            }

            if (DateTime.UtcNow > deadline || node.HasExited)
            {
                throw new InvalidOperationException("The blink echo agent did not start:\n" + node.RecentOutput());
            }

            await Task.Delay(100);
        }
    }

    /// <summary>The UIMessage that the AI SDK's <c>readUIMessageStream</c> builds from an agent's SSE response body.</summary>
    public static async Task<JsonObject> FoldWithAiSdkAsync(string sseBody)
    {
        EnsureInstalled();
        var startInfo = new ProcessStartInfo("node")
        {
            ArgumentList = { "fold.mjs" },
            WorkingDirectory = Directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(startInfo)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(sseBody);
        process.StandardInput.Close();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException("fold.mjs failed: " + await error);
        }

        return JsonNode.Parse(await output)!.AsObject();
    }

    public async ValueTask DisposeAsync()
    {
        if (Proxy is not null)
        {
            await Proxy.DisposeAsync();
        }

        if (_node is not null)
        {
            await _node.DisposeAsync();
        }

        if (Shim is not null)
        {
            await Shim.DisposeAsync();
        }
    }

    private static void EnsureInstalled()
    {
        if (!System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "blink")))
        {
            throw new InvalidOperationException($"The blink SDK is not installed: run `npm ci` in {Directory} (.ci/run does).");
        }
    }
}
