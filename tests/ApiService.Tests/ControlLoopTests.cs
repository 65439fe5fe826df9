using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;

namespace ApiService.Tests;

[Collection(nameof(HangarStack))]
public sealed class ControlLoopTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TextTurn_StreamsEveryChunkToTheClient_AndStoresTheFoldedMessage()
    {
        var (chatId, send) = await stack.StartChatAsync("hello hangar");

        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);

        var deltas = events.Where(e => e.Type == "message.chunk.added" && e.Data["chunk"]!["type"]!.ToString() == "text-delta")
            .Select(e => e.Data["chunk"]!["delta"]!.ToString());
        Assert.Equal("echo: hello hangar", string.Concat(deltas));
        Assert.Equal("completed", events[^1].Data["status"]!.ToString());
        var created = events.Single(e => e.Type == "message.created" && e.Data["role"]!.ToString() == "assistant").Data;
        Assert.Equal("""[{"type":"step-start"},{"type":"text","text":"echo: hello hangar","state":"done"}]""", created["parts"]!.ToJsonString());

        var messages = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages", Ct);
        Assert.Equal(["user", "assistant"], messages!.Select(m => m!["role"]!.ToString()));
        Assert.Equal("test-agent", messages![1]!["metadata"]!["model"]!.ToString());
        var steps = await StepsAsync(chatId, send["run"]!["id"]!.ToString());
        Assert.Equal("completed", steps.Single()!["status"]!.ToString());
        Assert.True(steps[0]!["time_to_first_chunk_ms"]!.GetValue<double>() >= 0);
        Assert.Equal(15, steps[0]!["usage"]!["totalTokens"]!.GetValue<double>());
    }

    [Fact]
    public async Task AgentCall_CarriesBlinksHeadersAndTheWholeHistory()
    {
        var (chatId, send) = await stack.StartChatAsync("headers please");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);

        var call = stack.Agent.Calls.Last(c => c.Body["id"]!.ToString() == chatId.ToString());
        Assert.Equal(send["run"]!["id"]!.ToString(), call.Headers["x-blink-invocation-run-id"]);
        Assert.Equal(chatId.ToString(), call.Headers["x-blink-invocation-chat-id"]);
        Assert.False(string.IsNullOrEmpty(call.Headers["x-blink-invocation-step-id"]));
        Assert.Contains('.', call.Headers["x-blink-invocation-token"]);
        var message = call.Body["messages"]!.AsArray().Single()!.AsObject();
        Assert.Equal(["id", "role", "parts", "metadata"], message.Select(p => p.Key));
        Assert.Null(message["metadata"]);
    }

    [Fact]
    public async Task ToolLoop_CallsTheAgentAgainWithTheToolOutput_UntilItAnswers()
    {
        var (chatId, send) = await stack.StartChatAsync("tool: ping");
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);

        Assert.True(events[^1].Data["status"]!.ToString() == "completed", events[^1].Data.ToJsonString());
        Assert.Equal(2, events[^1].Data["step_count"]!.GetValue<int>());
        var messages = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages", Ct);
        Assert.Equal(3, messages!.Count);
        Assert.Equal("output-available", messages[1]!["parts"]![1]!["state"]!.ToString());
        Assert.Equal("""tool said: {"echoed":"ping"}""", messages[2]!["parts"]![1]!["text"]!.ToString());
    }

    [Theory]
    [InlineData("fail", "The agent answered 500")]
    [InlineData("garbage", "broke the protocol")]
    [InlineData("stall", "first-byte timeout")]
    public async Task MisbehavingAgent_EndsTheStepWithAReadableError_AndTheChatStaysUsable(string text, string error)
    {
        var (chatId, send) = await stack.StartChatAsync(text);
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);

        Assert.Equal("failed", events[^1].Data["status"]!.ToString());
        Assert.Contains(error, events[^1].Data["error"]!.ToString(), StringComparison.Ordinal);
        var chat = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}", Ct);
        Assert.Equal("error", chat!["status"]!.ToString());
        Assert.Contains(error, chat["error"]!.ToString(), StringComparison.Ordinal);

        var again = await SendAsync(chatId, "are you back?");
        var next = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(again), SseClient.RunEnded);
        Assert.Equal("completed", next[^1].Data["status"]!.ToString());
    }

    [Fact]
    public async Task AgentThatRefusesConnections_FailsTheRun()
    {
        var agentId = await stack.CreateAgentAsync(url: $"http://127.0.0.1:{Hangar.Testing.FreePort.Next()}");
        var created = await (await stack.Api.PostAsJsonAsync("/api/chats", new { agent_id = agentId, messages = new[] { HangarStack.UserMessage("hi") } }, Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);

        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(created!), SseClient.RunEnded);

        Assert.Contains("Could not reach the agent", events[^1].Data["error"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResumeWithLastEventId_DeliversExactlyTheLaterEvents()
    {
        var (_, send) = await stack.StartChatAsync("resume me please");
        var all = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
        var cut = all.Count / 2;

        var resumed = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), e => e.Id == all[^1].Id, lastEventId: all[cut - 1].Id);

        Assert.Equal(all.Skip(cut).Select(e => e.Id), resumed.Select(e => e.Id));
    }

    [Fact]
    public async Task Interrupt_EndsTheRunningStep_AndTheNewMessageIsAnswered()
    {
        var (chatId, send) = await stack.StartChatAsync("slow");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), e => e.Type == "message.chunk.added" && e.Data["chunk"]!["type"]!.ToString() == "text-delta");

        var interrupt = await SendAsync(chatId, "stop that", "interrupt");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(interrupt), e => SseClient.RunEnded(e) && e.Data["id"]!.ToString() == interrupt["run"]!["id"]!.ToString());

        var runs = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/runs", Ct);
        Assert.Equal(["interrupted", "completed"], runs!.Select(r => r!["status"]!.ToString()));
        var messages = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages", Ct);
        Assert.Equal("echo: stop that", messages![^1]!["parts"]![1]!["text"]!.ToString());
        Assert.Equal("interrupted", (await StepsAsync(chatId, send["run"]!["id"]!.ToString()))[0]!["status"]!.ToString());
    }

    [Fact]
    public async Task Stop_EndsTheRunAsStopped()
    {
        var (chatId, send) = await stack.StartChatAsync("slow");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), e => e.Type == "message.chunk.added");

        var stop = await stack.Api.PostAsync($"/api/chats/{chatId}/stop", null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, stop.StatusCode);
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);

        Assert.Equal("stopped", events[^1].Data["status"]!.ToString());
        var chat = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}", Ct);
        Assert.Equal("idle", chat!["status"]!.ToString());
    }

    [Fact]
    public async Task Append_StoresWithoutRunning_EnqueueRunsAfterTheCurrentRun()
    {
        var (chatId, send) = await stack.StartChatAsync("first");
        var append = await SendAsync(chatId, "just a note", "append");
        Assert.Null(append["run"]);
        var queued = await SendAsync(chatId, "second");

        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), e => SseClient.RunEnded(e) && e.Data["id"]!.ToString() == queued["run"]!["id"]!.ToString());

        var runs = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/runs", Ct);
        Assert.All(runs!, r => Assert.Equal("completed", r!["status"]!.ToString()));
        Assert.InRange(runs!.Count, 1, 2);
        var messages = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages", Ct);
        Assert.Equal("echo: second", messages![^1]!["parts"]![1]!["text"]!.ToString());
    }

    [Fact]
    public async Task TwoReplicas_ExecuteEveryRunExactlyOnce()
    {
        var agentId = await stack.CreateAgentAsync();
        var before = stack.Agent.Calls.Count;
        var sends = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            using var api = HangarStackClient(i % 2);
            var response = await api.PostAsJsonAsync("/api/chats", new { agent_id = agentId, messages = new[] { HangarStack.UserMessage($"chat {i}") } }, Ct);
            return (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        }));

        foreach (var send in sends)
        {
            await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);
        }

        await using var db = NpgsqlDataSource.Create(stack.PostgresConnectionString);
        await using var command = db.CreateCommand("select count(*) from runs r join chats c on c.id = r.chat_id where c.agent_id = @agent and r.status = 'completed' and r.lease_epoch = 1");
        command.Parameters.AddWithValue("agent", agentId);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        await reader.ReadAsync(Ct);
        Assert.Equal(20, reader.GetInt64(0));
        Assert.Equal(20, stack.Agent.Calls.Count - before);
    }

    [Fact]
    public async Task AnotherOrganisationsChat_IsNotFound()
    {
        var (chatId, _) = await stack.StartChatAsync("private");
        var otherKey = await CreateOrganisationAsync();
        using var other = HangarStack.Client(stack.ApiUrls[0], otherKey);

        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/api/chats/{chatId}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/api/chats/{chatId}/messages", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.PostAsJsonAsync($"/api/chats/{chatId}/messages", new { messages = new[] { HangarStack.UserMessage("x") } }, Ct)).StatusCode);
        Assert.Empty((await other.GetFromJsonAsync<JsonObject>("/api/chats", Ct))!["items"]!.AsArray());
    }

    [Fact]
    public async Task BadRequests_Get4xxNamingTheProblem()
    {
        using var anonymous = HangarStack.Client(stack.ApiUrls[0], null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/agents", Ct)).StatusCode);
        using var wrongKey = HangarStack.Client(stack.ApiUrls[0], "hgr_nope");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrongKey.GetAsync("/api/agents", Ct)).StatusCode);

        var (chatId, _) = await stack.StartChatAsync("valid");
        var invalid = await stack.Api.PostAsJsonAsync($"/api/chats/{chatId}/messages", new { messages = new[] { new { role = "robot", parts = "nope" } }, behavior = "later" }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        var problem = await invalid.Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Equal(["behavior", "messages[0].parts", "messages[0].role"], problem!["errors"]!.AsObject().Select(e => e.Key).Order(StringComparer.Ordinal));

        var notJson = await stack.Api.PostAsync($"/api/chats/{chatId}/messages", new StringContent("{\"messages\": [", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Contains("$.messages", await notJson.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        var messages = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages", Ct);
        Assert.DoesNotContain(messages!, m => m!["role"]!.ToString() == "robot");
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Api.PostAsJsonAsync("/api/chats", new { agent_id = Guid.NewGuid() }, Ct)).StatusCode);
    }

    [Fact]
    public async Task StreamTickets_AreCheckedByStreamHub()
    {
        var (chatId, send) = await stack.StartChatAsync("ticket");
        var (otherChat, _) = await stack.StartChatAsync("other");
        using var client = new HttpClient();

        var noTicket = await client.GetAsync($"{stack.StreamHubUrl}/streams/chats/{chatId}", Ct);
        var wrongChat = await client.GetAsync($"{stack.StreamHubUrl}/streams/chats/{otherChat}?ticket={Uri.EscapeDataString(send["stream"]!["ticket"]!.ToString())}", Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, noTicket.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongChat.StatusCode);
    }

    [Fact]
    public async Task ChatsList_PagesWithACursor()
    {
        var agentId = await stack.CreateAgentAsync();
        for (var i = 0; i < 5; i++)
        {
            (await stack.Api.PostAsJsonAsync("/api/chats", new { agent_id = agentId, title = $"c{i}" }, Ct)).EnsureSuccessStatusCode();
        }

        var first = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats?agent_id={agentId}&limit=3", Ct);
        var second = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats?agent_id={agentId}&limit=3&cursor={first!["next_cursor"]}", Ct);

        Assert.Equal(["c4", "c3", "c2"], first["items"]!.AsArray().Select(c => c!["title"]!.ToString()).ToArray());
        Assert.Equal(["c1", "c0"], second!["items"]!.AsArray().Select(c => c!["title"]!.ToString()).ToArray());
        Assert.Null(second["next_cursor"]);
    }

    private HttpClient HangarStackClient(int replica) => HangarStack.Client(stack.ApiUrls[replica], HangarStack.ApiKey);

    private async Task<JsonObject> SendAsync(Guid chatId, string text, string behavior = "enqueue")
    {
        var response = await stack.Api.PostAsJsonAsync($"/api/chats/{chatId}/messages", new { messages = new[] { HangarStack.UserMessage(text) }, behavior }, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
    }

    private async Task<JsonArray> StepsAsync(Guid chatId, string runId) =>
        (await stack.Api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/runs/{runId}/steps", Ct))!;

    private async Task<string> CreateOrganisationAsync()
    {
        var key = "hgr_other_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        await using var db = NpgsqlDataSource.Create(stack.PostgresConnectionString);
        await using var command = db.CreateCommand("""
            with org as (insert into organizations (id, name) values (gen_random_uuid(), 'Other') returning id)
            insert into api_keys (id, organization_id, name, prefix, key_hash) select gen_random_uuid(), org.id, 'test', 'hgr_other', sha256(convert_to(@key, 'UTF8')) from org
            """);
        command.Parameters.AddWithValue("key", key);
        await command.ExecuteNonQueryAsync(Ct);
        return key;
    }
}
