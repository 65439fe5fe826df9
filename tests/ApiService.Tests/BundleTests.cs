using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Hangar.ApiService.Deployments;

namespace ApiService.Tests;

/// <summary>Reading bundles: the same files give the same hash in any format; unsafe paths, links and sizes are refused by name.</summary>
public sealed class BundleTests
{
    private static readonly BundleLimits Limits = new(1024 * 1024, 1024 * 1024, 100);

    [Fact]
    public void SameFiles_AsTarGzZipOrList_HaveOneHash()
    {
        var fromTar = Bundle.FromArchive(Tar(gzip: true, ("agent.js", "console.log(1)", false), ("./bin/run", "#!/bin/sh", true)), Limits);
        var fromPlainTar = Bundle.FromArchive(Tar(gzip: false, ("bin/run", "#!/bin/sh", true), ("agent.js", "console.log(1)", false)), Limits);
        var fromZip = Bundle.FromArchive(Zip(("agent.js", "console.log(1)", false), ("bin/run", "#!/bin/sh", true)), Limits);
        var fromList = Bundle.FromFiles([new("agent.js", false, Encoding.UTF8.GetBytes("console.log(1)")), new("bin/run", true, Encoding.UTF8.GetBytes("#!/bin/sh"))], Limits);

        Assert.Equal(Convert.ToHexString(fromTar.Hash), Convert.ToHexString(fromPlainTar.Hash));
        Assert.Equal(Convert.ToHexString(fromTar.Hash), Convert.ToHexString(fromZip.Hash));
        Assert.Equal(Convert.ToHexString(fromTar.Hash), Convert.ToHexString(fromList.Hash));
        Assert.True(fromTar.ContainsFile("./agent.js"));
        Assert.False(fromTar.ContainsFile("bin"));

        // A changed mode is a different bundle.
        var notExecutable = Bundle.FromArchive(Tar(gzip: true, ("agent.js", "console.log(1)", false), ("bin/run", "#!/bin/sh", false)), Limits);
        Assert.NotEqual(Convert.ToHexString(fromTar.Hash), Convert.ToHexString(notExecutable.Hash));
    }

    [Fact]
    public void CanonicalArchive_ReadsBackToTheSameBundle_WithDirectoriesAndModes()
    {
        var bundle = Bundle.FromArchive(Tar(gzip: true, ("a/b/c.txt", "deep", false), ("run.sh", "#!/bin/sh", true)), Limits);

        var archive = bundle.ToArchive();
        var again = Bundle.FromArchive(archive, Limits);
        Assert.Equal(Convert.ToHexString(bundle.Hash), Convert.ToHexString(again.Hash));
        Assert.Equal(archive, bundle.ToArchive());

        using var reader = new TarReader(new GZipStream(new MemoryStream(archive), CompressionMode.Decompress));
        var entries = new List<(string, TarEntryType, UnixFileMode)>();
        while (reader.GetNextEntry() is { } entry)
        {
            entries.Add((entry.Name, entry.EntryType, entry.Mode));
        }

        Assert.Equal(["a/", "a/b/", "a/b/c.txt", "run.sh"], entries.Select(e => e.Item1));
        Assert.Equal((UnixFileMode)0b111_101_101, entries[3].Item3);
        Assert.Equal((UnixFileMode)0b110_100_100, entries[2].Item3);
    }

    [Theory]
    [InlineData("../escape.js", "not a safe path")]
    [InlineData("a/../../escape.js", "not a safe path")]
    [InlineData("/etc/passwd", "not a safe path")]
    [InlineData("a\\b.js", "not a safe path")]
    public void UnsafePaths_AreRefused(string path, string problem)
    {
        var error = Assert.Throws<BundleException>(() => Bundle.FromArchive(Tar(gzip: true, (path, "x", false)), Limits));
        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Links_StayInside_OrAreRefused()
    {
        var inside = Bundle.FromArchive(TarWith(Link("lib/current", "../vendor/lib")), Limits);
        Assert.Equal("../vendor/lib", inside.Files.Single().LinkTarget);

        Assert.Contains("outside the bundle", Assert.Throws<BundleException>(() => Bundle.FromArchive(TarWith(Link("lib/up", "../../etc")), Limits)).Message, StringComparison.Ordinal);
        Assert.Contains("outside the bundle", Assert.Throws<BundleException>(() => Bundle.FromArchive(TarWith(Link("abs", "/etc/passwd")), Limits)).Message, StringComparison.Ordinal);
        var hardLink = new PaxTarEntry(TarEntryType.HardLink, "hard") { LinkName = "agent.js" };
        Assert.Contains("hard link", Assert.Throws<BundleException>(() => Bundle.FromArchive(TarWith(hardLink), Limits)).Message, StringComparison.Ordinal);
        Assert.Contains("Fifo", Assert.Throws<BundleException>(() => Bundle.FromArchive(TarWith(new PaxTarEntry(TarEntryType.Fifo, "pipe")), Limits)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Limits_AreCountedOnWhatIsUnpacked()
    {
        var small = new BundleLimits(1024 * 1024, 1000, 2);

        // A zip that claims nothing about its size still stops at the limit while it is read.
        var bomb = Zip(("zeros.bin", new string('0', 100_000), false));
        Assert.True(bomb.Length < 1000);
        Assert.Contains("more than 1000 bytes", Assert.Throws<BundleException>(() => Bundle.FromArchive(bomb, small)).Message, StringComparison.Ordinal);
        Assert.Contains("more than 2 files", Assert.Throws<BundleException>(() => Bundle.FromArchive(Tar(gzip: true, ("a", "1", false), ("b", "2", false), ("c", "3", false)), small)).Message, StringComparison.Ordinal);
        Assert.Contains("appears twice", Assert.Throws<BundleException>(() => Bundle.FromArchive(Tar(gzip: false, ("a", "1", false), ("./a", "2", false)), Limits)).Message, StringComparison.Ordinal);
        Assert.Contains("not a tar, tar.gz or zip", Assert.Throws<BundleException>(() => Bundle.FromArchive("just text"u8.ToArray(), Limits)).Message, StringComparison.Ordinal);
        Assert.Contains("damaged", Assert.Throws<BundleException>(() => Bundle.FromArchive(Tar(gzip: true, ("a", "1", false))[..30], Limits)).Message, StringComparison.Ordinal);
        Assert.Contains("no files", Assert.Throws<BundleException>(() => Bundle.FromArchive(TarWith(new PaxTarEntry(TarEntryType.Directory, "empty/")), Limits)).Message, StringComparison.Ordinal);
    }

    private static PaxTarEntry Link(string path, string target) => new(TarEntryType.SymbolicLink, path) { LinkName = target };

    private static byte[] TarWith(params TarEntry[] entries)
    {
        using var output = new MemoryStream();
        using (var tar = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var entry in entries)
            {
                tar.WriteEntry(entry);
            }
        }

        return output.ToArray();
    }

    private static byte[] Tar(bool gzip, params (string Path, string Content, bool Executable)[] files)
    {
        using var output = new MemoryStream();
        using (var compressed = gzip ? new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true) : null)
        using (var tar = new TarWriter((Stream?)compressed ?? output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (path, content, executable) in files)
            {
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path)
                {
                    DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
                    Mode = executable ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100,
                });
            }
        }

        return output.ToArray();
    }

    private static byte[] Zip(params (string Path, string Content, bool Executable)[] files)
    {
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (path, content, executable) in files)
            {
                var entry = zip.CreateEntry(path, CompressionLevel.Optimal);
                entry.ExternalAttributes = (executable ? 0b111_101_101 : 0b110_100_100) << 16;
                using var stream = entry.Open();
                stream.Write(Encoding.UTF8.GetBytes(content));
            }
        }

        return output.ToArray();
    }
}
