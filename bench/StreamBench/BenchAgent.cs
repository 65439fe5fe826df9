using System.Buffers;
using System.Buffers.Text;
using System.IO.Pipelines;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Hangar.StreamBench;

/// <summary>
/// The C# bench agent: the same replies as the Blink SDK one (<c>bench/agents/blink-bench</c>) from a minimal Kestrel
/// server, writing the UI message stream straight into the response pipe and flushing every 16 KiB.
/// </summary>
internal static class BenchAgent
{
    private const int FlushBytes = 16 * 1024;

    public static async Task RunAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.MapGet("/_agent/health", () => "OK");
        app.MapPost("/_agent/chat", ChatAsync);
        Console.WriteLine($"bench agent listening on http://127.0.0.1:{port}");
        await app.RunAsync();
    }

    private static async Task ChatAsync(HttpContext context)
    {
        var request = (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted))!;
        var messages = request["messages"]!.AsArray();
        var last = messages[^1]!;
        var toolDone = last["role"]!.ToString() == "assistant"
            && last["parts"]!.AsArray().Any(p => p!["type"]!.ToString() == "tool-noop" && p["state"]?.ToString() == "output-available");
        var user = messages.Last(m => m!["role"]!.ToString() == "user")!;
        var words = string.Concat(user["parts"]!.AsArray().Where(p => p!["type"]!.ToString() == "text").Select(p => p!["text"]!.ToString())).Split(' ');

        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["x-vercel-ai-ui-message-stream"] = "v1";
        var output = response.BodyWriter;
        Write(output, """{"type":"start"}"""u8);
        Write(output, """{"type":"start-step"}"""u8);
        if (!toolDone && words[0] == "tool")
        {
            Write(output, """{"type":"tool-input-available","toolCallId":"call-1","toolName":"noop","input":{}}"""u8);
            Write(output, """{"type":"tool-output-available","toolCallId":"call-1","output":{"ok":true}}"""u8);
        }
        else
        {
            Write(output, """{"type":"text-start","id":"t1"}"""u8);
            await output.FlushAsync(context.RequestAborted);
            if (!toolDone && words[0] == "bench")
            {
                var count = int.Parse(words[1], System.Globalization.CultureInfo.InvariantCulture);
                var size = int.Parse(words[2], System.Globalization.CultureInfo.InvariantCulture);
                for (var i = 0; i < count; i++)
                {
                    WriteDelta(output, i, size);
                    if (output.UnflushedBytes >= FlushBytes)
                    {
                        await output.FlushAsync(context.RequestAborted);
                    }
                }
            }
            else
            {
                WriteDelta(output, 0, 8);
            }

            Write(output, """{"type":"text-end","id":"t1"}"""u8);
        }

        Write(output, """{"type":"finish-step"}"""u8);
        Write(output, """{"type":"finish"}"""u8);
        Write(output, "[DONE]"u8);
        await output.FlushAsync(context.RequestAborted);
    }

    private static void Write(PipeWriter output, ReadOnlySpan<byte> data)
    {
        output.Write("data: "u8);
        output.Write(data);
        output.Write("\n\n"u8);
    }

    /// <summary>Delta <paramref name="i"/>: <paramref name="i"/> padded with zeros to <paramref name="size"/> bytes (its last digits when longer).</summary>
    private static void WriteDelta(PipeWriter output, int i, int size)
    {
        Span<byte> digits = stackalloc byte[11];
        Utf8Formatter.TryFormat(i, digits, out var length);
        var span = output.GetSpan(64 + size);
        var prefix = "data: {\"type\":\"text-delta\",\"id\":\"t1\",\"delta\":\""u8;
        prefix.CopyTo(span);
        var at = prefix.Length;
        for (var pad = size - length; pad > 0; pad--)
        {
            span[at++] = (byte)'0';
        }

        var shown = Math.Min(length, size);
        digits[(length - shown)..length].CopyTo(span[at..]);
        at += shown;
        "\"}\n\n"u8.CopyTo(span[at..]);
        output.Advance(at + 4);
    }
}
