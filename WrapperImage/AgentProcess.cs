using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Hangar.Wrapper;

/// <summary>
/// The agent as a child process: started from <c>ENTRYPOINT</c> on <c>PORT+1</c> with <c>BLINK_API_URL</c> pointing at
/// the wrapper's internal API; its stdout and stderr are echoed to the wrapper's own and shipped as logs line by line.
/// </summary>
internal sealed partial class AgentProcess : IDisposable
{
    /// <summary>Longest line kept in one log record; longer lines are cut (the echo keeps them whole).</summary>
    private const int MaxLogLine = 16 * 1024;

    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly Task _output;

    private AgentProcess(Process process, LogShipper logs)
    {
        _process = process;
        _output = Task.WhenAll(
            PumpAsync(process.StandardOutput, Console.Out, logs, stderr: false),
            PumpAsync(process.StandardError, Console.Error, logs, stderr: true));
        Exited = WaitForExitAsync();
    }

    /// <summary>Completes with the agent's exit code once it has exited and all its output has been read.</summary>
    public Task<int> Exited { get; }

    public int Id => _process.Id;

    public static AgentProcess Start(WrapperOptions options, LogShipper logs)
    {
        var entrypoint = Path.GetFullPath(options.Entrypoint);
        if (!File.Exists(entrypoint))
        {
            throw new WrapperConfigurationException($"ENTRYPOINT '{options.Entrypoint}' does not exist ({entrypoint}).");
        }

        var (file, arguments) = Command(entrypoint);
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = Path.GetDirectoryName(entrypoint)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The agent listens on loopback behind the wrapper and reaches the platform only through it.
        start.Environment["PORT"] = options.AgentPort.ToString();
        start.Environment["HOST"] = "127.0.0.1";
        start.Environment["BLINK_API_URL"] = $"http://127.0.0.1:{options.InternalApiPort}";
        start.Environment.Remove("BLINK_DEPLOYMENT_TOKEN");
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("HANGAR_WRAPPER_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        try
        {
            return new AgentProcess(Process.Start(start)!, logs);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new WrapperConfigurationException($"Could not start the agent ({file} {string.Join(' ', arguments)}): {ex.Message}");
        }
    }

    /// <summary>How an entrypoint runs: JavaScript with Node, a .NET assembly with <c>dotnet</c>, anything else as itself.</summary>
    internal static (string File, string[] Arguments) Command(string entrypoint) => Path.GetExtension(entrypoint) switch
    {
        ".js" or ".mjs" or ".cjs" => ("node", [entrypoint]),
        ".dll" => ("dotnet", [entrypoint]),
        _ => (entrypoint, []),
    };

    /// <summary>Asks the agent to stop (SIGTERM), as <c>docker stop</c> asked the wrapper.</summary>
    public void Terminate()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, SigTerm);
        }
    }

    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
    }

    public void Dispose() => _process.Dispose();

    private async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync();
        await _output;
        return _process.ExitCode;
    }

    private static async Task PumpAsync(StreamReader from, TextWriter echo, LogShipper logs, bool stderr)
    {
        while (await from.ReadLineAsync() is { } line)
        {
            await echo.WriteLineAsync(line);
            logs.Add(line.Length > MaxLogLine ? line[..MaxLogLine] : line, stderr);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
