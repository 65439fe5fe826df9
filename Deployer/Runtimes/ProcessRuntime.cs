using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;

namespace Hangar.Deployer.Runtimes;

/// <summary>
/// Deployments as local processes, for machines without Docker: the same wrapper and bundle, the same environment.
/// Each instance has a directory (<c>{data}/{installation}/{deployment}</c>) with the unpacked bundle in <c>app/</c>, the
/// wrapper's output in <c>output.log</c> and <c>instance.json</c>, which a restarted Deployer reads to find the
/// process again. Agents get only the environment their deployment gives, never the Deployer's own.
/// </summary>
public sealed partial class ProcessRuntime : IAgentRuntime, IDisposable
{
    private const string RecordFile = "instance.json";
    private const int SigTerm = 15;
    private const int SigKill = 9;

    private readonly DeployerOptions _options;
    private readonly string _wrapper;
    private readonly string _data;
    private readonly Dictionary<Guid, (Process Process, AgentLaunch Launch)> _children = [];
    private readonly Lock _gate = new();
    private readonly Channel<Guid> _stopped = Channel.CreateUnbounded<Guid>();

    public ProcessRuntime(DeployerOptions options, string installation)
    {
        _options = options;
        _wrapper = Path.GetFullPath(options.Process.WrapperPath ?? Path.Combine(AppContext.BaseDirectory, "hangar-wrapper"));
        _data = Path.Combine(Path.GetFullPath(options.Process.DataDirectory ?? Path.Combine(Path.GetTempPath(), "hangar-deployer")), installation);
        if (!File.Exists(_wrapper))
        {
            throw new InvalidOperationException($"The process runtime needs the wrapper, and '{_wrapper}' does not exist: set Deployer:Process:WrapperPath.");
        }

        Directory.CreateDirectory(_data);
    }

    public string Name => "process";

    public Task<IReadOnlyList<AgentInstance>> ListAsync(CancellationToken cancellationToken)
    {
        var instances = new List<AgentInstance>();
        foreach (var directory in Directory.EnumerateDirectories(_data))
        {
            if (ReadRecord(directory) is { } record && Guid.TryParse(Path.GetFileName(directory), out var deployment))
            {
                instances.Add(ToInstance(deployment, record));
            }
        }

        return Task.FromResult<IReadOnlyList<AgentInstance>>(instances);
    }

    public async Task<AgentInstance> StartAsync(AgentLaunch launch, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(_data, launch.DeploymentId.ToString());
        var app = Path.Combine(directory, "app");
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }

        Directory.CreateDirectory(app);
        using (var gzip = new GZipStream(new MemoryStream(launch.Bundle, writable: false), CompressionMode.Decompress))
        {
            await TarFile.ExtractToDirectoryAsync(gzip, app, overwriteFiles: true, cancellationToken).ConfigureAwait(false);
        }

        return Spawn(launch, directory);
    }

    public Task<InstanceState> InspectAsync(AgentInstance instance, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(_data, instance.DeploymentId.ToString());
        if (ReadRecord(directory) is not { } record)
        {
            return Task.FromResult(InstanceState.Missing);
        }

        lock (_gate)
        {
            if (_children.TryGetValue(instance.DeploymentId, out var child) && child.Process.Id == record.Pid)
            {
                return Task.FromResult(child.Process.HasExited
                    ? new InstanceState(true, false, child.Process.ExitCode, 0, null)
                    : new InstanceState(true, true, null, 0, null));
            }
        }

        // Adopted from an earlier Deployer: alive when the pid still names the process that was started (same start time).
        return Task.FromResult(new InstanceState(true, StartTimeOf(record.Pid) == record.StartTime, null, 0, null));
    }

    public IAsyncEnumerable<Guid> StoppedAsync(CancellationToken cancellationToken) => _stopped.Reader.ReadAllAsync(cancellationToken);

    public Task RestartAsync(AgentInstance instance, CancellationToken cancellationToken)
    {
        AgentLaunch launch;
        lock (_gate)
        {
            launch = _children.TryGetValue(instance.DeploymentId, out var child)
                ? child.Launch
                : throw new AgentStartException("The process was started by an earlier Deployer; it is started afresh.");
        }

        Spawn(launch, Path.Combine(_data, instance.DeploymentId.ToString()));
        return Task.CompletedTask;
    }

    public async Task RemoveAsync(AgentInstance instance, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var directory = Path.Combine(_data, instance.DeploymentId.ToString());
        if (ReadRecord(directory) is { } record && StartTimeOf(record.Pid) == record.StartTime)
        {
            _ = Kill(record.Pid, SigTerm);
            var deadline = DateTime.UtcNow + timeout;
            while (StartTimeOf(record.Pid) == record.StartTime && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }

            if (StartTimeOf(record.Pid) == record.StartTime)
            {
                _ = Kill(record.Pid, SigKill);
            }
        }

        lock (_gate)
        {
            if (_children.Remove(instance.DeploymentId, out var child))
            {
                child.Process.WaitForExit(TimeSpan.FromSeconds(5));
                child.Process.Dispose();
            }
        }

        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    public async Task<IReadOnlyList<string>> RecentOutputAsync(AgentInstance instance, int lines, CancellationToken cancellationToken)
    {
        var log = Path.Combine(_data, instance.DeploymentId.ToString(), "output.log");
        if (!File.Exists(log))
        {
            return [];
        }

        var all = await File.ReadAllLinesAsync(log, cancellationToken).ConfigureAwait(false);
        return all[Math.Max(0, all.Length - lines)..];
    }

    /// <summary>Stops the processes this Deployer started: they do not outlive a Deployer that stops on purpose.</summary>
    public void Dispose()
    {
        List<AgentInstance> running;
        lock (_gate)
        {
            running = [.. _children.Select(c => new AgentInstance(c.Value.Process.Id.ToString(CultureInfo.InvariantCulture), c.Key, "", null))];
        }

        Task.WhenAll(running.Select(i => RemoveAsync(i, _options.StopTimeout, CancellationToken.None))).GetAwaiter().GetResult();
    }

    private AgentInstance Spawn(AgentLaunch launch, string directory)
    {
        var port = LocalPorts.Next(2); // the wrapper's, then the agent's
        var start = new ProcessStartInfo("/bin/sh") { WorkingDirectory = Path.Combine(directory, "app"), UseShellExecute = false };

        // The wrapper's output goes to a file, so the agent outlives a Deployer that dies; exec keeps the pid the wrapper's.
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$0\" >>\"$1\" 2>&1");
        start.ArgumentList.Add(_wrapper);
        start.ArgumentList.Add(Path.Combine(directory, "output.log"));
        start.Environment.Clear();
        start.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin";
        start.Environment["HOME"] = directory;
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { } dotnetRoot)
        {
            start.Environment["DOTNET_ROOT"] = dotnetRoot;
        }

        foreach (var (name, value) in launch.Environment)
        {
            start.Environment[name] = value;
        }

        start.Environment["ENTRYPOINT"] = launch.Entrypoint;
        start.Environment["PORT"] = port.ToString(CultureInfo.InvariantCulture);
        start.Environment["INTERNAL_BLINK_API_SERVER_LISTEN_PORT"] = LocalPorts.Next().ToString(CultureInfo.InvariantCulture);
        start.Environment["HANGAR_WRAPPER_HOST"] = "127.0.0.1";

        var process = Process.Start(start) ?? throw new AgentStartException($"The wrapper '{_wrapper}' could not be started.");
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => _stopped.Writer.TryWrite(launch.DeploymentId);
        var record = new InstanceRecord(process.Id, StartTimeOf(process.Id) ?? 0, port, launch.TokenId);
        File.WriteAllText(Path.Combine(directory, RecordFile), JsonSerializer.Serialize(record, ProcessRuntimeJsonContext.Default.InstanceRecord));
        lock (_gate)
        {
            if (_children.Remove(launch.DeploymentId, out var previous))
            {
                previous.Process.Dispose();
            }

            _children[launch.DeploymentId] = (process, launch);
        }

        return ToInstance(launch.DeploymentId, record);
    }

    private AgentInstance ToInstance(Guid deployment, InstanceRecord record) =>
        new(record.Pid.ToString(CultureInfo.InvariantCulture), deployment, $"http://{_options.AdvertisedHost}:{record.Port}", record.TokenId);

    private static InstanceRecord? ReadRecord(string directory)
    {
        var path = Path.Combine(directory, RecordFile);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllText(path), ProcessRuntimeJsonContext.Default.InstanceRecord) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The process's start time in clock ticks since boot (field 22 of <c>/proc/pid/stat</c>), or null when it is gone or a zombie.</summary>
    private static long? StartTimeOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[0] == "Z" ? null : long.Parse(fields[19], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

internal sealed record InstanceRecord(int Pid, long StartTime, int Port, Guid TokenId);

[System.Text.Json.Serialization.JsonSerializable(typeof(InstanceRecord))]
internal sealed partial class ProcessRuntimeJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
