using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Hangar.ApiService.Telemetry;

namespace ApiService.Tests;

/// <summary>
/// Hangar's own telemetry: with <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, every service exports traces, metrics and logs
/// over OTLP/HTTP; and a run's trace joins Hangar's spans with the agent's through the <c>traceparent</c> it sends.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class TelemetryTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RunTrace_JoinsHangarsSpansAndTheAgentsUnderTheTraceparentItSent()
    {
        var (agentId, _, token) = await stack.DeployAgentAsync();
        var (chatId, send) = await stack.StartChatAsync("traced", agentId);
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
        var runId = send["run"]!["id"]!.ToString();
        var run = (await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}/runs/{runId}", Ct))!;
        var step = (await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/runs/{runId}/steps", Ct))!.Single()!;

        // One traceparent, in the run's trace, naming the step's span.
        Dictionary<string, string> headers;
        lock (stack.Agent.Calls)
        {
            headers = stack.Agent.Calls.Single(c => c.Body["id"]!.ToString() == chatId.ToString()).Headers;
        }

        var traceparent = headers["traceparent"].Split('-');
        Assert.Equal(4, traceparent.Length);
        Assert.Equal(["00", run["trace_id"]!.ToString()], traceparent[..2]);
        Assert.Equal("01", traceparent[3]);

        // The agent continues that context and reports a span of its own.
        using var agent = stack.AgentClient(token);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        var agentSpan = new
        {
            resourceSpans = new[]
            {
                new
                {
                    resource = new { attributes = new[] { new { key = "service.name", value = new { stringValue = "traced-agent" } } } },
                    scopeSpans = new[]
                    {
                        new
                        {
                            spans = new[]
                            {
                                new
                                {
                                    traceId = traceparent[1], spanId = "00000000000000aa", parentSpanId = traceparent[2], name = "agent.work", kind = 1,
                                    startTimeUnixNano = now.ToString(), endTimeUnixNano = (now + 1000).ToString(),
                                },
                            },
                        },
                    },
                },
            },
        };
        (await agent.PostAsJsonAsync("/api/otlp/v1/traces", agentSpan, Ct)).EnsureSuccessStatusCode();

        // chat.send → agent.chat → {stream.append, agent.work}, in one trace.
        var tree = await HangarStack.WaitForAsync(async () =>
        {
            var t = (await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}/runs/{runId}/trace", Ct))!;
            return t["span_count"]!.GetValue<int>() >= 4 ? t : null;
        });
        Assert.Equal([run["trace_id"]!.ToString()], tree["trace_ids"]!.AsArray().Select(t => t!.ToString()));
        var send_ = Assert.Single(tree["roots"]!.AsArray())!;
        Assert.Equal("chat.send", send_["span"]!["name"]!.ToString());
        Assert.Equal("Hangar.ApiService", send_["span"]!["service_name"]!.ToString());
        var call = Assert.Single(send_["children"]!.AsArray())!;
        Assert.Equal("agent.chat", call["span"]!["name"]!.ToString());
        Assert.Equal(traceparent[2], call["span"]!["span_id"]!.ToString());
        Assert.Equal(step["id"]!.ToString(), call["span"]!["step_id"]!.ToString());
        Assert.Equal(1, call["span"]!["status_code"]!.GetValue<int>());
        Assert.Equal(["agent.work", "stream.append"], call["children"]!.AsArray().Select(c => c!["span"]!["name"]!.ToString()).Order());

        // The step's trace is the agent call and everything under it.
        var stepTree = (await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}/runs/{runId}/steps/{step["id"]}/trace", Ct))!;
        Assert.Equal(3, stepTree["span_count"]!.GetValue<int>());
        Assert.Equal("agent.chat", Assert.Single(stepTree["roots"]!.AsArray())!["span"]!["name"]!.ToString());
    }

    [Fact]
    public async Task AChatTurn_ExportsNpgsqlSpans_InTheRunsTrace()
    {
        // A send stores the run in PostgreSQL under the request's span, in the trace the run keeps.
        var (chatId, send) = await stack.StartChatAsync("client spans");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
        var run = (await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}/runs/{send["run"]!["id"]}", Ct))!;
        var traceId = run["trace_id"]!.ToString();

        bool Exported() => stack.Otlp.Exports("traces")
            .SelectMany(e => OtlpProtobuf.ReadTraces(e.Body))
            .Any(s => s.TraceId == traceId && s.Context.ScopeName == "Npgsql" && s.Context.ServiceName == "apiservice");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!Exported() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, Ct);
        }

        Assert.True(Exported(), "no span of Npgsql in the run's trace was exported by ApiService");
    }

    [Theory]
    [InlineData("apiservice", "traces")]
    [InlineData("apiservice", "metrics")]
    [InlineData("apiservice", "logs")]
    [InlineData("streamhub", "traces")]
    [InlineData("streamhub", "metrics")]
    [InlineData("streamhub", "logs")]
    public async Task EveryService_ExportsEverySignal_AsOtlpProtobuf(string service, string signal)
    {
        // A chat turn makes requests on both services: spans, request metrics and log records.
        var (_, send) = await stack.StartChatAsync("telemetry");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);

        var name = Encoding.UTF8.GetBytes(service);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!stack.Otlp.Exports(signal).Any(e => e.Body.AsSpan().IndexOf(name) >= 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, Ct);
        }

        var exports = stack.Otlp.Exports(signal).Where(e => e.Body.AsSpan().IndexOf(name) >= 0).ToList();
        Assert.NotEmpty(exports);
        Assert.All(exports, e => Assert.Equal("application/x-protobuf", e.ContentType));
    }
}
