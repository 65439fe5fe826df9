using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;

namespace ApiService.Tests;

/// <summary>OTLP ingest in both encodings: what is stored, what is refused, and a burst with nothing lost.</summary>
[Collection(nameof(HangarStack))]
public sealed class TelemetryIngestTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Burst_Of10000LogRecords_IsStoredWithNothingLost_AndReadableByLevelAndText()
    {
        var (agentId, _, token) = await stack.DeployAgentAsync();
        using var agent = stack.AgentClient(token);
        var runId = Guid.NewGuid();
        var batches = Enumerable.Range(0, 10).Select(b => agent.PostAsync("/api/otlp/v1/logs", JsonLogs(b, 1000, runId), Ct));
        foreach (var response in await Task.WhenAll(batches))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(10_000L, await CountAsync("select count(*) from agent_logs where agent_id = $1", agentId));
        Assert.Equal(10_000L, await CountAsync("select count(distinct body) from agent_logs where agent_id = $1", agentId));

        var errors = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/logs?level=error&q=50-&limit=1000", Ct);
        var items = errors!["items"]!.AsArray();
        Assert.Equal(100, items.Count);
        Assert.All(items, l => Assert.Equal("error", l!["level"]!.ToString()));
        Assert.All(items, l => Assert.Equal(runId.ToString(), l!["run_id"]!.ToString()));
        var page = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/logs?limit=600", Ct);
        var next = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/logs?limit=600&cursor={page!["next_cursor"]}", Ct);
        var ids = page["items"]!.AsArray().Concat(next!["items"]!.AsArray()).Select(l => l!["id"]!.GetValue<long>()).ToList();
        Assert.Equal(1200, ids.Distinct().Count());
    }

    [Theory]
    [InlineData("traces", "select count(*) from agent_spans where agent_id = $1 and service_name = 'apiservice' and length(trace_id) = 32")]
    [InlineData("logs", "select count(*) from agent_logs where agent_id = $1 and service_name = 'apiservice' and body is not null")]
    public async Task Protobuf_FromTheOpenTelemetryDotnetExporter_IsStored(string signal, string storedQuery)
    {
        // The services of this stack export to a loopback receiver with the .NET OTLP exporter: real protobuf payloads.
        var (_, send) = await stack.StartChatAsync("make some telemetry");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
        var exports = await HangarStack.WaitForAsync(() => Task.FromResult<List<byte[]>?>(
            stack.Otlp.Exports(signal).Select(e => e.Body).Where(b => b.AsSpan().IndexOf("Hangar.ApiService"u8) >= 0).ToList() is { Count: > 0 } found ? found : null));
        var (agentId, _, token) = await stack.DeployAgentAsync();
        using var agent = stack.AgentClient(token);

        foreach (var body in exports)
        {
            var response = await agent.PostAsync($"/api/otlp/v1/{signal}", new ByteArrayContent(body) { Headers = { { "Content-Type", "application/x-protobuf" } } }, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/x-protobuf", response.Content.Headers.ContentType!.MediaType);
        }

        Assert.True(await CountAsync(storedQuery, agentId) > 0);
    }

    [Theory]
    [InlineData("application/json", "{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"traceId\": \"xyz\", \"spanId\": \"0102030405060708\"}]}]}]}", "traceId")]
    [InlineData("application/json", "{\"resourceSpans\": [", "not valid JSON")]
    [InlineData("application/x-protobuf", "0a05ffffffffff", "varint")]
    [InlineData("application/x-protobuf", "0a0a120812063a0400000000", "trace_id")]
    public async Task MalformedOtlp_Gets400NamingTheProblem_AndStoresNothing(string contentType, string payload, string problem)
    {
        var (agentId, _, token) = await stack.DeployAgentAsync();
        using var agent = stack.AgentClient(token);
        var bytes = contentType == "application/json" ? Encoding.UTF8.GetBytes(payload) : Convert.FromHexString(payload);
        var content = new ByteArrayContent(bytes) { Headers = { { "Content-Type", contentType } } };

        var response = await agent.PostAsync("/api/otlp/v1/traces", content, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(problem, await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(0L, await CountAsync("select count(*) from agent_spans where agent_id = $1", agentId));
    }

    [Fact]
    public async Task WrongTypeOrOversizedPayload_IsRefused()
    {
        var (_, _, token) = await stack.DeployAgentAsync();
        using var agent = stack.AgentClient(token);
        var text = await agent.PostAsync("/api/otlp/v1/logs", new StringContent("hello", Encoding.UTF8, "text/plain"), Ct);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        var huge = new ByteArrayContent(new byte[9 * 1024 * 1024]) { Headers = { { "Content-Type", "application/x-protobuf" } } };
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await agent.PostAsync("/api/otlp/v1/logs", huge, Ct)).StatusCode);
    }

    private static StringContent JsonLogs(int batch, int count, Guid runId)
    {
        var records = new JsonArray();
        for (var i = 0; i < count; i++)
        {
            var n = batch * count + i;
            records.Add(new JsonObject
            {
                ["timeUnixNano"] = (1_795_000_000_000_000_000L + n * 1000L).ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["severityNumber"] = n % 10 == 0 ? 17 : 9,
                ["severityText"] = n % 10 == 0 ? "ERROR" : "INFO",
                ["body"] = new JsonObject { ["stringValue"] = $"record {n}-" },
                ["attributes"] = new JsonArray(new JsonObject { ["key"] = "blink.run_id", ["value"] = new JsonObject { ["stringValue"] = runId.ToString() } }),
            });
        }

        var payload = new JsonObject
        {
            ["resourceLogs"] = new JsonArray(new JsonObject
            {
                ["resource"] = new JsonObject { ["attributes"] = new JsonArray(new JsonObject { ["key"] = "service.name", ["value"] = new JsonObject { ["stringValue"] = "burst" } }) },
                ["scopeLogs"] = new JsonArray(new JsonObject { ["scope"] = new JsonObject { ["name"] = "test" }, ["logRecords"] = records }),
            }),
        };
        return new StringContent(payload.ToJsonString(), Encoding.UTF8, "application/json");
    }

    private async Task<long> CountAsync(string sql, Guid agentId)
    {
        await using var db = NpgsqlDataSource.Create(stack.PostgresConnectionString);
        await using var command = db.CreateCommand(sql);
        command.Parameters.AddWithValue(agentId);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
