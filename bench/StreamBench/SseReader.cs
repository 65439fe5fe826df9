using System.Buffers;
using System.IO.Pipelines;

namespace Hangar.StreamBench;

/// <summary>Called with each event's fields (empty when absent); returns true to stop reading.</summary>
internal delegate bool SseHandler(ReadOnlySpan<byte> id, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data);

/// <summary>
/// Reads a <c>text/event-stream</c> body without allocating per event: events are split at blank lines and their
/// fields handed over as spans. Fast enough that the client is not what a benchmark measures.
/// </summary>
internal static class SseReader
{
    /// <summary>Reads until the handler stops it (true) or the body ends (false).</summary>
    public static async Task<bool> ReadAsync(Stream body, SseHandler handler, CancellationToken cancellationToken)
    {
        var reader = PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024));
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;
                var stopped = Dispatch(ref buffer, handler);
                reader.AdvanceTo(buffer.Start, result.Buffer.End);
                if (stopped)
                {
                    return true;
                }

                if (result.IsCompleted)
                {
                    return false;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static bool Dispatch(ref ReadOnlySequence<byte> buffer, SseHandler handler)
    {
        var sequence = new SequenceReader<byte>(buffer);
        while (sequence.TryReadTo(out ReadOnlySpan<byte> block, "\n\n"u8))
        {
            if (DispatchBlock(block, handler))
            {
                buffer = buffer.Slice(sequence.Position);
                return true;
            }
        }

        buffer = buffer.Slice(sequence.Position);
        return false;
    }

    private static bool DispatchBlock(ReadOnlySpan<byte> block, SseHandler handler)
    {
        ReadOnlySpan<byte> id = default, type = default, data = default;
        while (!block.IsEmpty)
        {
            var end = block.IndexOf((byte)'\n');
            var line = end < 0 ? block : block[..end];
            block = end < 0 ? default : block[(end + 1)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }

            var value = line[(colon + 1)..];
            if (value.Length > 0 && value[0] == (byte)' ')
            {
                value = value[1..];
            }

            var field = line[..colon];
            if (field.SequenceEqual("data"u8))
            {
                // Every server here sends one data line per event.
                data = value;
            }
            else if (field.SequenceEqual("event"u8))
            {
                type = value;
            }
            else if (field.SequenceEqual("id"u8))
            {
                id = value;
            }
        }

        return !data.IsEmpty && handler(id, type, data);
    }
}
