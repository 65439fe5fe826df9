using System.Buffers.Binary;
using System.Formats.Tar;
using System.Runtime.InteropServices;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace Hangar.ApiService.Deployments;

/// <summary>One file of a bundle: a regular file with its content, or a symbolic link that stays inside the bundle.</summary>
internal sealed record BundleFile(string Path, bool Executable, byte[] Content, string? LinkTarget = null)
{
    public bool IsLink => LinkTarget is not null;
}

/// <summary>Limits on what one upload may hold (section <c>Hangar:Deployments</c>).</summary>
internal sealed record BundleLimits(long MaxUploadBytes, long MaxUnpackedBytes, int MaxFiles);

/// <summary>A bundle that cannot be accepted; the message names the problem for the 400 answer.</summary>
internal sealed class BundleException(string message) : Exception(message);

/// <summary>
/// An agent's built files, read from a tar (plain or gzipped), a zip or a list of files and checked: relative paths
/// without <c>..</c>, no absolute paths, no links that leave the bundle, no hard links or devices, within the size
/// limits. Its <see cref="Hash"/> depends only on the files (path, mode, content), not on the archive format, and
/// <see cref="ToArchive"/> writes the canonical gzipped tar that the runtimes unpack into <c>/app</c>.
/// </summary>
internal sealed class Bundle
{
    private const int MaxPathLength = 1024;
    private static readonly DateTimeOffset FixedTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private Bundle(SortedDictionary<string, BundleFile> files)
    {
        Files = [.. files.Values];
        Size = Files.Sum(f => (long)f.Content.Length);
        Hash = ComputeHash(Files);
    }

    public IReadOnlyList<BundleFile> Files { get; }

    /// <summary>Bytes of file content, unpacked.</summary>
    public long Size { get; }

    /// <summary>SHA-256 of the manifest: every path, kind, mode and content digest in ordinal path order.</summary>
    public byte[] Hash { get; }

    public bool ContainsFile(string path) => Normalize(path) is { } normal && Files.Any(f => f.Path == normal && !f.IsLink);

    /// <summary>Reads a tar, a gzipped tar or a zip, told apart by their first bytes.</summary>
    public static Bundle FromArchive(ReadOnlyMemory<byte> archive, BundleLimits limits)
    {
        var span = archive.Span;
        if (span.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(span) is 0x04034b50 or 0x06054b50)
        {
            return FromZip(archive, limits);
        }

        using var input = AsStream(archive);
        if (span.Length >= 2 && span[0] == 0x1f && span[1] == 0x8b)
        {
            using var gunzip = new GZipStream(input, CompressionMode.Decompress);
            return FromTar(gunzip, limits);
        }

        if (span.Length < 512 || !span.Slice(257, 5).SequenceEqual("ustar"u8))
        {
            throw new BundleException("The upload is not a tar, tar.gz or zip archive.");
        }

        return FromTar(input, limits);
    }

    /// <summary>Files given one by one (the JSON form of an upload).</summary>
    public static Bundle FromFiles(IEnumerable<BundleFile> files, BundleLimits limits)
    {
        var builder = new Builder(limits);
        foreach (var file in files)
        {
            builder.Add(file.Path, file.Executable, file.Content, file.LinkTarget);
        }

        return builder.Build();
    }

    /// <summary>The canonical archive: a gzipped PAX tar with the directories, files and links in path order, owned by root, with fixed times.</summary>
    public byte[] ToArchive()
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        using (var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true))
        {
            var directories = new HashSet<string>(StringComparer.Ordinal);
            foreach (var file in Files)
            {
                for (var slash = file.Path.IndexOf('/'); slash > 0; slash = file.Path.IndexOf('/', slash + 1))
                {
                    var directory = file.Path[..slash];
                    if (directories.Add(directory))
                    {
                        tar.WriteEntry(Entry(TarEntryType.Directory, directory + "/", executable: true));
                    }
                }

                var entry = Entry(file.IsLink ? TarEntryType.SymbolicLink : TarEntryType.RegularFile, file.Path, file.Executable);
                if (file.IsLink)
                {
                    entry.LinkName = file.LinkTarget!;
                }
                else
                {
                    entry.DataStream = new MemoryStream(file.Content, writable: false);
                }

                tar.WriteEntry(entry);
            }
        }

        return output.ToArray();
    }

    private static PaxTarEntry Entry(TarEntryType type, string name, bool executable) => new(type, name)
    {
        Mode = executable ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100,
        ModificationTime = FixedTime,
        Uid = 0,
        Gid = 0,
    };

    private static MemoryStream AsStream(ReadOnlyMemory<byte> bytes) => MemoryMarshal.TryGetArray(bytes, out var segment)
        ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
        : new MemoryStream(bytes.ToArray(), writable: false);

    private static Bundle FromTar(Stream input, BundleLimits limits)
    {
        var builder = new Builder(limits);
        try
        {
            using var reader = new TarReader(input);
            while (reader.GetNextEntry() is { } entry)
            {
                switch (entry.EntryType)
                {
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        var executable = ((int)entry.Mode & 0b001_001_001) != 0;
                        builder.Add(entry.Name, executable, builder.ReadContent(entry.Name, entry.DataStream), null);
                        break;
                    case TarEntryType.SymbolicLink:
                        builder.Add(entry.Name, false, [], entry.LinkName);
                        break;
                    case TarEntryType.Directory:
                        builder.CheckPath(entry.Name.TrimEnd('/'));
                        break;
                    case TarEntryType.HardLink:
                        throw new BundleException($"'{entry.Name}' is a hard link; archive the file itself.");
                    default:
                        throw new BundleException($"'{entry.Name}' is a {entry.EntryType} entry; a bundle holds only files, directories and symbolic links.");
                }
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw new BundleException($"The tar archive is damaged: {ex.Message}");
        }

        return builder.Build();
    }

    private static Bundle FromZip(ReadOnlyMemory<byte> archive, BundleLimits limits)
    {
        var builder = new Builder(limits);
        try
        {
            using var zip = new ZipArchive(AsStream(archive), ZipArchiveMode.Read);
            foreach (var entry in zip.Entries)
            {
                if (entry.FullName.EndsWith('/'))
                {
                    builder.CheckPath(entry.FullName.TrimEnd('/'));
                    continue;
                }

                var unixMode = entry.ExternalAttributes >> 16;
                if ((unixMode & 0xF000) == 0xA000)
                {
                    throw new BundleException($"'{entry.FullName}' is a symbolic link; a zip bundle holds only files. Use a tar archive for links.");
                }

                using var content = entry.Open();
                builder.Add(entry.FullName, (unixMode & 0b001_001_001) != 0, builder.ReadContent(entry.FullName, content), null);
            }
        }
        catch (InvalidDataException ex)
        {
            throw new BundleException($"The zip archive is damaged: {ex.Message}");
        }

        return builder.Build();
    }

    /// <summary>The path in its one accepted spelling (no leading <c>./</c>, no empty or <c>.</c> segments), or null when it is unsafe.</summary>
    private static string? Normalize(string path)
    {
        if (path.Length is 0 or > MaxPathLength || path[0] == '/' || path.Contains('\\') || path.Any(char.IsControl))
        {
            return null;
        }

        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(s => s != ".").ToArray();
        return segments.Length == 0 || segments.Contains("..") ? null : string.Join('/', segments);
    }

    private static byte[] ComputeHash(IReadOnlyList<BundleFile> files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in files)
        {
            var what = file.IsLink ? "link:" + file.LinkTarget : Convert.ToHexStringLower(SHA256.HashData(file.Content));
            hash.AppendData(Encoding.UTF8.GetBytes($"{file.Path}\0{(file.Executable ? "755" : "644")}\0{what}\n"));
        }

        return hash.GetHashAndReset();
    }

    private sealed class Builder(BundleLimits limits)
    {
        private readonly SortedDictionary<string, BundleFile> _files = new(StringComparer.Ordinal);
        private long _size;

        public string CheckPath(string path) => Normalize(path)
            ?? throw new BundleException($"'{path}' is not a safe path: paths must be relative, without '..', '\\' or control characters, at most {MaxPathLength} characters.");

        /// <summary>Reads an entry's content, counting it against the unpacked limit as it goes (the sizes an archive claims are not trusted).</summary>
        public byte[] ReadContent(string path, Stream? content)
        {
            if (content is null)
            {
                return [];
            }

            using var buffer = new MemoryStream();
            var chunk = new byte[81920];
            int read;
            while ((read = content.Read(chunk)) > 0)
            {
                _size += read;
                if (_size > limits.MaxUnpackedBytes)
                {
                    throw new BundleException($"The bundle unpacks to more than {limits.MaxUnpackedBytes} bytes (at '{path}'), the most a bundle may hold.");
                }

                buffer.Write(chunk, 0, read);
            }

            return buffer.ToArray();
        }

        public void Add(string path, bool executable, byte[] content, string? linkTarget)
        {
            var normal = CheckPath(path);
            if (linkTarget is not null && !LinkStaysInside(normal, linkTarget))
            {
                throw new BundleException($"'{path}' links to '{linkTarget}', outside the bundle.");
            }

            if (!_files.TryAdd(normal, new BundleFile(normal, executable, content, linkTarget)))
            {
                throw new BundleException($"'{normal}' appears twice in the bundle.");
            }

            if (_files.Count > limits.MaxFiles)
            {
                throw new BundleException($"The bundle has more than {limits.MaxFiles} files, the most a bundle may hold.");
            }
        }

        public Bundle Build()
        {
            if (_files.Count == 0)
            {
                throw new BundleException("The bundle has no files.");
            }

            var size = _files.Values.Sum(f => (long)f.Content.Length);
            return size > limits.MaxUnpackedBytes
                ? throw new BundleException($"The bundle unpacks to more than {limits.MaxUnpackedBytes} bytes, the most a bundle may hold.")
                : new Bundle(_files);
        }

        /// <summary>A relative target resolved from the link's directory must not climb above the bundle's root.</summary>
        private static bool LinkStaysInside(string linkPath, string target)
        {
            if (target.Length == 0 || target[0] == '/' || target.Contains('\\'))
            {
                return false;
            }

            var depth = linkPath.Count(c => c == '/');
            foreach (var segment in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                depth += segment switch { ".." => -1, "." => 0, _ => 1 };
                if (depth < 0)
                {
                    return false;
                }
            }

            return true;
        }
    }
}
