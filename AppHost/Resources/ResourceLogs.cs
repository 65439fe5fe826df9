using System.Globalization;

namespace Hangar.AppHost.Resources;

/// <summary>
/// Every line a resource prints, kept in <c>{directory}/{name}.log</c> with the time it arrived. A restarted resource
/// appends to its file, so a crash and what came before it stay together.
/// </summary>
public sealed class ResourceLogs(string directory) : IDisposable
{
    private readonly Dictionary<string, StreamWriter> _files = [];
    private readonly Lock _gate = new();

    public string Directory { get; } = directory;

    public string PathOf(string name) => Path.Combine(Directory, name + ".log");

    public void Write(string name, string line)
    {
        lock (_gate)
        {
            if (!_files.TryGetValue(name, out var file))
            {
                System.IO.Directory.CreateDirectory(Directory);
                _files[name] = file = new StreamWriter(PathOf(name), append: true) { AutoFlush = true };
            }

            file.Write(DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z' ", CultureInfo.InvariantCulture));
            file.WriteLine(line);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var file in _files.Values)
            {
                file.Dispose();
            }

            _files.Clear();
        }
    }
}
