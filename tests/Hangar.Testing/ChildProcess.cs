using System.Collections.Concurrent;
using System.Diagnostics;

namespace Hangar.Testing;

/// <summary>
/// A process the stack started: its output is kept (the last lines, for error messages) and echoed with the
/// resource's name in front, and it is killed with its whole tree when disposed.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private const int KeptLines = 200;

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lastLines = new();
    private readonly Action<string, string>? _echo;

    private ChildProcess(string name, Process process, Action<string, string>? echo)
    {
        Name = name;
        _process = process;
        _echo = echo;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Raised once with every line the process prints (stdout and stderr), after it has been kept.</summary>
    public event Action<string>? Line;

    public static ChildProcess Start(string name, ProcessStartInfo startInfo, Action<string, string>? echo = null)
    {
        startInfo.RedirectStandardOutput = true;
        startInfo.RedirectStandardError = true;
        startInfo.UseShellExecute = false;
        var program = startInfo.FileName;
        if (!OperatingSystem.IsWindows())
        {
            // A session of its own (setsid execs in place, so the pid stays the program's): Ctrl+C in a terminal
            // reaches the AppHost alone, which then stops everything in reverse order.
            startInfo.ArgumentList.Insert(0, program);
            startInfo.FileName = "setsid";
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        var child = new ChildProcess(name, process, echo);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"{name}: '{program}' did not start.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public string RecentOutput(int lines = 30) => string.Join('\n', _lastLines.TakeLast(lines));

    public Task WaitForExitAsync(CancellationToken cancellationToken = default) => _process.WaitForExitAsync(cancellationToken);

    /// <summary>
    /// Ends the process at once, as a crash would (SIGKILL), with the processes it started unless
    /// <paramref name="entireProcessTree"/> is false (they outlive it, as they would a crash of it alone).
    /// </summary>
    public void Kill(bool entireProcessTree = true)
    {
        try
        {
            _process.Kill(entireProcessTree);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Asks the process to stop (SIGTERM) and kills it if it has not stopped in time.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }

        _ = Posix.Kill(_process.Id, Posix.SigTerm);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _lastLines.Enqueue(line);
        while (_lastLines.Count > KeptLines)
        {
            _lastLines.TryDequeue(out _);
        }

        _echo?.Invoke(Name, line);
        Line?.Invoke(line);
    }
}
