using System.Formats.Tar;
using System.IO.Compression;
using System.Net.Http.Headers;

namespace ApiService.Tests;

/// <summary>Agent bundles as the tests upload them: directories packed as tar.gz, and the multipart form that carries one.</summary>
public static class Bundles
{
    /// <summary>The real Blink SDK echo agent as <c>blink build</c> bundled it (scripts/prerequisites.sh builds it).</summary>
    public static string BlinkEcho { get; } = Path.Combine(Hangar.Testing.ServiceProcess.RepositoryRoot, "tests", "agents", "blink-echo", ".blink", "build");

    /// <summary>The dependency-free plain agent.</summary>
    public static string Plain { get; } = Path.Combine(Hangar.Testing.ServiceProcess.RepositoryRoot, "tests", "agents", "plain");

    public static byte[] TarGz(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"{directory} is missing: run scripts/prerequisites.sh, which builds the test agents.");
        }

        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            TarFile.CreateFromDirectory(directory, gzip, includeBaseDirectory: false);
        }

        return output.ToArray();
    }

    public static byte[] TarGz(params (string Path, string Content)[] files)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax))
        {
            foreach (var (path, content) in files)
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content)) });
            }
        }

        return output.ToArray();
    }

    /// <summary>A multipart upload: the archive as the <c>bundle</c> part, and the fields.</summary>
    public static MultipartFormDataContent Form(byte[] archive, string entrypoint, string runtime, string? environmentJson = null, string? target = null)
    {
        var bundle = new ByteArrayContent(archive);
        bundle.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
        var form = new MultipartFormDataContent
        {
            { bundle, "bundle", "bundle.tar.gz" },
            { new StringContent(entrypoint), "entrypoint" },
            { new StringContent(runtime), "runtime" },
        };
        if (environmentJson is not null)
        {
            form.Add(new StringContent(environmentJson), "environment");
        }

        if (target is not null)
        {
            form.Add(new StringContent(target), "target");
        }

        return form;
    }
}
