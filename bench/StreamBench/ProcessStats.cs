using System.Globalization;

namespace Hangar.StreamBench;

/// <summary>A process's proportional share of memory and the shared clean pages within its resident memory, MiB.</summary>
internal sealed record MemoryShare(double Pss, double SharedClean);

/// <summary>CPU time and memory of processes, read from <c>/proc</c>.</summary>
internal static class ProcessStats
{
    /// <summary>USER_HZ: the unit of <c>utime</c> and <c>stime</c> in <c>/proc/[pid]/stat</c> on Linux.</summary>
    private const double TicksPerSecond = 100;

    /// <summary>
    /// User plus system CPU seconds of each process and every process below it (PostgreSQL's backends), from one pass
    /// over <c>/proc</c>.
    /// </summary>
    public static Dictionary<int, double> CpuSeconds(IEnumerable<int> pids)
    {
        var stats = Directory.EnumerateDirectories("/proc")
            .Select(d => Path.GetFileName(d))
            .Where(name => name.All(char.IsAsciiDigit))
            .Select(name => TryReadStat(int.Parse(name, CultureInfo.InvariantCulture)))
            .OfType<(int Pid, int Parent, long Ticks)>()
            .ToList();
        var ticks = stats.ToDictionary(s => s.Pid, s => s.Ticks);
        var children = stats.ToLookup(s => s.Parent, s => s.Pid);
        long Tree(int pid) => ticks.GetValueOrDefault(pid) + children[pid].Sum(Tree);
        return pids.Distinct().ToDictionary(pid => pid, pid => Tree(pid) / TicksPerSecond);
    }

    /// <summary>Resident memory now (<c>VmRSS</c>), in MiB.</summary>
    public static double RssMiB(int pid) => StatusKiB(pid, "VmRSS:") / 1024.0;

    /// <summary>The highest resident memory since the process started (<c>VmHWM</c>), in MiB.</summary>
    public static double PeakRssMiB(int pid) => StatusKiB(pid, "VmHWM:") / 1024.0;

    /// <summary>
    /// The process's proportional share of memory (<c>Pss</c>) and its shared clean pages now, from
    /// <c>smaps_rollup</c>. Resident memory counts in full the runtime's and framework's code pages, which every .NET
    /// process on the machine maps from the same files (shared clean); the proportional share divides them among
    /// the processes that map them.
    /// </summary>
    public static MemoryShare MemoryShareMiB(int pid)
    {
        var fields = File.ReadLines($"/proc/{pid}/smaps_rollup").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length == 3 && f[2] == "kB").ToDictionary(f => f[0], f => long.Parse(f[1], CultureInfo.InvariantCulture) / 1024.0);
        return new(fields["Pss:"], fields["Shared_Clean:"]);
    }

    private static long StatusKiB(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private static (int Pid, int Parent, long Ticks)? TryReadStat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name is in parentheses and may hold spaces; the fields after it are fixed.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (pid, int.Parse(fields[1], CultureInfo.InvariantCulture),
                long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null;
        }
    }
}
