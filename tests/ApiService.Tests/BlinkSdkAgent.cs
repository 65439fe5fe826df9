using System.Diagnostics;
using System.Text.Json.Nodes;
using Hangar.Testing;

namespace ApiService.Tests;

/// <summary>
/// The recorded echo agent (tests/agents/blink-echo/echo-agent.mjs), written with the real <c>blink</c> npm SDK and the
/// AI SDK's mock model, run by the real runtime wrapper (WrapperImage) as a deployment would run it, behind a
/// <see cref="RecordingProxy"/>; and the AI SDK's own fold of a UI message stream. The wrapper holds the token of the
/// deployment <see cref="AgentId"/>; calls the agent makes during a step go up with that step's invocation token.
/// </summary>
public sealed class BlinkSdkAgent(HangarStack stack) : IAsyncLifetime
{
    private static readonly string Directory = Path.Combine(ServiceProcess.RepositoryRoot, "tests", "agents", "blink-echo");

    private WrapperProcess? _wrapper;

    /// <summary>Forwards to the wrapper and records every call: point Hangar at <c>Proxy.Url</c>.</summary>
    public RecordingProxy? Proxy { get; private set; }

    public string Url => Proxy!.Url;

    /// <summary>The agent whose deployment (at <see cref="Url"/>) the wrapper's token belongs to.</summary>
    public Guid AgentId { get; private set; }

    public async ValueTask InitializeAsync()
    {
        EnsureInstalled();
        var port = FreePort.NextPair();
        var url = $"http://127.0.0.1:{port}";
        Proxy = await RecordingProxy.StartAsync(url);
        var (agentId, _, token) = await stack.DeployAgentAsync(url: Proxy.Url);
        AgentId = agentId;
        _wrapper = WrapperProcess.Start("blink-echo", Path.Combine(Directory, "echo-agent.mjs"), port, stack.ApiUrls[1], token);
        await _wrapper.WaitHealthyAsync();
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

        if (_wrapper is not null)
        {
            await _wrapper.DisposeAsync();
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
