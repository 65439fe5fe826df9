using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ApiService.Tests;

/// <summary>
/// A small agent that speaks Blink's protocol (shared/protocol/blink). What it does depends on the last user text:
/// "tool: x" calls the echo tool, then answers with its output; "fail" answers 500; "garbage" streams a chunk that is
/// not JSON; "stall" sends nothing; "slow" streams a delta every 50 ms for 10 s; anything else is echoed in three deltas.
/// </summary>
public sealed class TestAgent : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestAgent(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    /// <summary>Every request body and its invocation headers, in arrival order.</summary>
    public List<(JsonObject Body, Dictionary<string, string> Headers)> Calls { get; } = [];

    public static async Task<TestAgent> StartAsync()
    {
        var (app, url) = LoopbackApp.Create();
        var agent = new TestAgent(app, url);
        app.MapGet("/_agent/health", () => "OK");
        app.MapPost("/_agent/chat", agent.ChatAsync);
        await app.StartAsync();
        return agent;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private async Task ChatAsync(HttpContext context)
    {
        var body = (await System.Text.Json.JsonSerializer.DeserializeAsync<JsonObject>(context.Request.Body))!;
        lock (Calls)
        {
            Calls.Add((body, context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString())));
        }

        var messages = body["messages"]!.AsArray();
        var last = messages[^1]!;
        var text = LastUserText(messages);
        var response = context.Response;
        if (text == "fail")
        {
            response.StatusCode = 500;
            await response.WriteAsync("""{"error":"Internal server error"}""");
            return;
        }

        if (text == "stall")
        {
            await Task.Delay(Timeout.Infinite, context.RequestAborted);
        }

        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache, no-transform";
        async Task Send(string json)
        {
            await response.WriteAsync("data: " + json + "\n\n", context.RequestAborted);
            await response.Body.FlushAsync(context.RequestAborted);
        }

        await Send("""{"type":"start"}""");
        await Send("""{"type":"start-step"}""");
        if (text == "garbage")
        {
            await Send("this is not json");
            return;
        }

        var toolPart = last["role"]!.ToString() == "assistant"
            ? last["parts"]!.AsArray().LastOrDefault(p => p!["type"]!.ToString().StartsWith("tool-", StringComparison.Ordinal))
            : null;
        if (toolPart is not null)
        {
            var output = toolPart["output"]!.ToJsonString();
            await Text("tool said: " + output);
        }
        else if (text.StartsWith("tool:", StringComparison.Ordinal))
        {
            var arg = new JsonObject { ["text"] = text[5..].Trim() }.ToJsonString();
            await Send($$"""{"type":"tool-input-available","toolCallId":"call-1","toolName":"echo","input":{{arg}}}""");
            await Send(new JsonObject { ["type"] = "tool-output-available", ["toolCallId"] = "call-1", ["output"] = new JsonObject { ["echoed"] = text[5..].Trim() } }.ToJsonString());
            await Send("""{"type":"finish-step"}""");
            await Send("""{"type":"finish","finishReason":"tool-calls"}""");
            await response.WriteAsync("data: [DONE]\n\n");
            return;
        }
        else if (text.StartsWith("burst ", StringComparison.Ordinal))
        {
            // As fast as it can: deltas "0 ", "1 ", … flushed 64 at a time.
            await Send("""{"type":"text-start","id":"t1"}""");
            var count = int.Parse(text[6..], System.Globalization.CultureInfo.InvariantCulture);
            for (var i = 0; i < count; i++)
            {
                await response.WriteAsync($$"""data: {"type":"text-delta","id":"t1","delta":"{{i}} "}""" + "\n\n", context.RequestAborted);
                if (i % 64 == 63)
                {
                    await response.Body.FlushAsync(context.RequestAborted);
                }
            }

            await Send("""{"type":"text-end","id":"t1"}""");
        }
        else if (text == "slow")
        {
            await Send("""{"type":"text-start","id":"t1"}""");
            for (var i = 0; i < 200; i++)
            {
                await Send($$"""{"type":"text-delta","id":"t1","delta":"{{i}} "}""");
                await Task.Delay(50, context.RequestAborted);
            }

            await Send("""{"type":"text-end","id":"t1"}""");
        }
        else
        {
            await Text("echo: " + text);
        }

        await Send("""{"type":"finish-step"}""");
        await Send("""{"type":"message-metadata","messageMetadata":{"usage":{"inputTokens":10,"outputTokens":5,"totalTokens":15},"model":"test-agent"}}""");
        await Send("""{"type":"finish","finishReason":"stop"}""");
        await response.WriteAsync("data: [DONE]\n\n");

        async Task Text(string value)
        {
            await Send("""{"type":"text-start","id":"t1"}""");
            var third = Math.Max(1, (value.Length + 2) / 3);
            for (var i = 0; i < value.Length; i += third)
            {
                var delta = new JsonObject { ["d"] = value[i..Math.Min(value.Length, i + third)] }["d"]!.ToJsonString();
                await Send($$"""{"type":"text-delta","id":"t1","delta":{{delta}}}""");
            }

            await Send("""{"type":"text-end","id":"t1"}""");
        }
    }

    private static string LastUserText(JsonArray messages)
    {
        var user = messages.Last(m => m!["role"]!.ToString() == "user")!;
        var text = new StringBuilder();
        foreach (var part in user["parts"]!.AsArray())
        {
            if (part!["type"]!.ToString() == "text")
            {
                text.Append(part["text"]!.ToString());
            }
        }

        return text.ToString();
    }
}
