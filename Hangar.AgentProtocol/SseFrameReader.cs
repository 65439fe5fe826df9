using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Hangar.AgentProtocol;

/// <summary>
/// Reads the data of Server-Sent Events from a stream, one event at a time, as the agent flushes them.
/// Follows the SSE rules that matter for the UI message stream: <c>data:</c> lines (one optional space after the
/// colon) of one event are joined with <c>\n</c>, a blank line ends the event, comment lines (<c>:</c>) and other
/// fields are ignored, and lines may end in <c>\n</c>, <c>\r\n</c> or <c>\r</c>.
/// </summary>
public static class SseFrameReader
{
    /// <summary>The longest event accepted; a bigger one means the agent is streaming garbage.</summary>
    public const int MaxEventBytes = 16 * 1024 * 1024;

    public static async IAsyncEnumerable<byte[]> ReadEventsAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
        var data = new ArrayBufferWriter<byte>(1024);
        var hasData = false;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                var buffer = result.Buffer;
                List<byte[]>? ready = null;
                while (TryReadLine(ref buffer, out var line, result.IsCompleted))
                {
                    if (line.IsEmpty)
                    {
                        if (hasData)
                        {
                            (ready ??= []).Add(data.WrittenSpan.ToArray());
                            data.ResetWrittenCount();
                            hasData = false;
                        }

                        continue;
                    }

                    AppendField(line, data, ref hasData);
                }

                if (buffer.Length > MaxEventBytes || data.WrittenCount > MaxEventBytes)
                {
                    throw new AgentProtocolException($"An SSE event from the agent exceeded {MaxEventBytes / (1024 * 1024)} MiB.");
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (ready is not null)
                {
                    foreach (var item in ready)
                    {
                        yield return item;
                    }
                }

                if (result.IsCompleted)
                {
                    if (hasData)
                    {
                        // The last event lacks its closing blank line. Like the AI SDK's parser, keep it: whether the
                        // stream was complete is judged by its [DONE], not by its framing.
                        yield return data.WrittenSpan.ToArray();
                    }

                    yield break;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static void AppendField(ReadOnlySequence<byte> line, ArrayBufferWriter<byte> data, ref bool hasData)
    {
        var span = line.IsSingleSegment ? line.FirstSpan : line.ToArray();
        if (span[0] == (byte)':')
        {
            return;
        }

        var colon = span.IndexOf((byte)':');
        var name = colon < 0 ? span : span[..colon];
        if (!name.SequenceEqual("data"u8))
        {
            return;
        }

        var value = colon < 0 ? [] : span[(colon + 1)..];
        if (!value.IsEmpty && value[0] == (byte)' ')
        {
            value = value[1..];
        }

        if (hasData)
        {
            data.Write("\n"u8);
        }

        data.Write(value);
        hasData = true;
    }

    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line, bool isFinal)
    {
        var position = buffer.PositionOf((byte)'\n');
        var cr = buffer.PositionOf((byte)'\r');
        if (cr is { } crPosition && (position is null || buffer.Slice(0, crPosition).Length < buffer.Slice(0, position.Value).Length))
        {
            // A lone \r ends a line too; \r\n counts once. A \r at the very end may be followed by \n in the next read.
            var next = buffer.GetPosition(1, crPosition);
            var rest = buffer.Slice(next);
            if (rest.IsEmpty && !isFinal)
            {
                line = default;
                return false;
            }

            line = buffer.Slice(0, crPosition);
            buffer = !rest.IsEmpty && rest.FirstSpan[0] == (byte)'\n' ? rest.Slice(1) : rest;
            return true;
        }

        if (position is null)
        {
            // At the end of the stream, what is left is the last line, even without its line break.
            line = buffer;
            var isLast = isFinal && !buffer.IsEmpty;
            if (isLast)
            {
                buffer = buffer.Slice(buffer.End);
            }

            return isLast;
        }

        line = buffer.Slice(0, position.Value);
        buffer = buffer.Slice(buffer.GetPosition(1, position.Value));
        return true;
    }
}
