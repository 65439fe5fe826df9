using System.IO.Compression;

namespace Hangar.ApiService.Http;

internal static class RequestBodies
{
    /// <summary>
    /// The whole body (gunzipped when <c>Content-Encoding: gzip</c>), or null as soon as it passes
    /// <paramref name="limit"/> bytes, so an oversized request is refused without being buffered. A corrupt gzip
    /// stream throws <see cref="InvalidDataException"/>.
    /// </summary>
    public static async Task<ReadOnlyMemory<byte>?> ReadBoundedAsync(HttpRequest request, int limit, CancellationToken ct)
    {
        var gzip = string.Equals(request.Headers.ContentEncoding, "gzip", StringComparison.OrdinalIgnoreCase);
        if (!gzip && request.ContentLength > limit)
        {
            return null;
        }

        await using var gunzip = gzip ? new GZipStream(request.Body, CompressionMode.Decompress, leaveOpen: true) : null;
        return await ReadBoundedAsync(gunzip ?? request.Body, limit, ct);
    }

    /// <summary>The whole stream, or null as soon as it passes <paramref name="limit"/> bytes.</summary>
    public static async Task<ReadOnlyMemory<byte>?> ReadBoundedAsync(Stream source, long limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await source.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }
}
