using System.Diagnostics;

namespace Hangar.Testing;

/// <summary>A Hangar service (ApiService, StreamHub, …) started from its build output with <c>dotnet</c>.</summary>
public static class ServiceProcess
{
    /// <summary>The repository root: the directory that holds Aspire.sln, found upwards from this assembly.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    public static ChildProcess Start(string project, int port, IReadOnlyDictionary<string, string> environment, Action<string, string>? echo = null, string? name = null)
    {
        var dll = BuildOutput(project);
        var startInfo = new ProcessStartInfo("dotnet") { ArgumentList = { dll }, WorkingDirectory = Path.GetDirectoryName(dll)! };
        startInfo.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        startInfo.Environment["DOTNET_ENVIRONMENT"] = "Production";
        startInfo.Environment["Logging__Console__FormatterName"] = "simple";
        startInfo.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in environment)
        {
            startInfo.Environment[key] = value;
        }

        return ChildProcess.Start(name ?? project, startInfo, echo);
    }

    /// <summary>Waits for a service's <c>/health</c>; throws with its last output when it exits first or takes over 60 s.</summary>
    public static async Task WaitHealthyAsync(ChildProcess process, string url, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await client.GetAsync("/health", cancellationToken).ConfigureAwait(false)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                var why = process.HasExited ? $"exited with code {process.ExitCode}" : "did not become healthy within 60 s";
                throw new InvalidOperationException($"{process.Name} {why}. Its last output:\n{process.RecentOutput()}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The built assembly of a project in the repository (named after the project unless <paramref name="assembly"/> says otherwise).</summary>
    public static string BuildOutput(string project, string? assembly = null)
    {
        var dll = Path.Combine(RepositoryRoot, project, "bin", Configuration, "net10.0", (assembly ?? project) + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{project} is not built: {dll} is missing. Run `dotnet build` first.", dll);
    }

    /// <summary>Debug or Release: whatever this assembly was built as, so tests run the services they were built with.</summary>
    private static string Configuration =>
        AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar).Contains("Release") ? "Release" : "Debug";

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Aspire.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Aspire.sln was not found above " + AppContext.BaseDirectory);
    }
}
