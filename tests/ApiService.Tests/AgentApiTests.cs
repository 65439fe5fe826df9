using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;

namespace ApiService.Tests;

/// <summary>The agent API (<c>/api/agents/me/*</c>) with deployment tokens: storage, chats, isolation and limits.</summary>
[Collection(nameof(HangarStack))]
public sealed class AgentApiTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Storage_KeepsKeysAndValuesExactly_AndListsByPrefixWithACursor()
    {
        var (_, _, token) = await stack.DeployAgentAsync();
        using var agent = stack.AgentClient(token);
        const string key = "odd key/with ünïcode %2F and \"quotes\"";
        var value = "line one\nline two \u00e9\u20ac";
        Assert.Equal(HttpStatusCode.NoContent, (await agent.PutAsync(Storage(key), new StringContent(value, Encoding.UTF8), Ct)).StatusCode);
        var read = await agent.GetAsync(Storage(key), Ct);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal(Encoding.UTF8.GetBytes(value), await read.Content.ReadAsByteArrayAsync(Ct));

        for (var i = 0; i < 5; i++)
        {
            (await agent.PutAsync(Storage($"list-{i}"), new StringContent($"v{i}"), Ct)).EnsureSuccessStatusCode();
        }

        var first = await agent.GetFromJsonAsync<JsonObject>("/api/agents/me/storage?prefix=list-&limit=3", Ct);
        Assert.Equal(["list-0", "list-1", "list-2"], first!["entries"]!.AsArray().Select(e => e!["key"]!.ToString()));
        var second = await agent.GetFromJsonAsync<JsonObject>($"/api/agents/me/storage?prefix=list-&limit=3&cursor={first["cursor"]}", Ct);
        Assert.Equal(["list-3", "list-4"], second!["entries"]!.AsArray().Select(e => e!["key"]!.ToString()));
        Assert.Null(second["cursor"]);

        Assert.Equal(HttpStatusCode.NoContent, (await agent.DeleteAsync(Storage(key), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await agent.GetAsync(Storage(key), Ct)).StatusCode);
    }

    [Fact]
    public async Task Storage_RefusesOversizedValuesAndKeys_AndStoresNothing()
    {
        var (_, _, token) = await stack.DeployAgentAsync();
        using var agent = stack.AgentClient(token);

        var tooBig = await agent.PutAsync(Storage("big"), new ByteArrayContent(new byte[20_001]), Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooBig.StatusCode);
        Assert.Contains("20000 bytes", await tooBig.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await agent.GetAsync(Storage("big"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await agent.PutAsync(Storage("big"), new ByteArrayContent(new byte[20_000]), Ct)).StatusCode);

        var longKey = await agent.PutAsync(Storage(new string('k', 476)), new StringContent("v"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, longKey.StatusCode);
        Assert.Contains("\"key\"", await longKey.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokensOfOneAgent_NeverReachAnotherAgentsData()
    {
        var (_, _, tokenA) = await stack.DeployAgentAsync();
        var (_, _, tokenB) = await stack.DeployAgentAsync();
        using var a = stack.AgentClient(tokenA);
        using var b = stack.AgentClient(tokenB);
        (await a.PutAsync(Storage("secret"), new StringContent("a's"), Ct)).EnsureSuccessStatusCode();
        var chat = await (await a.PutAsync("/api/agents/me/chats/" + Uri.EscapeDataString("\"[\\\"k\\\"]\""), null, Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        var chatId = chat!["id"]!.ToString();

        Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync(Storage("secret"), Ct)).StatusCode);
        Assert.Empty((await b.GetFromJsonAsync<JsonObject>("/api/agents/me/storage", Ct))!["entries"]!.AsArray());
        Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync($"/api/agents/me/chats/{chatId}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync($"/api/agents/me/chats/{chatId}/messages", Ct)).StatusCode);
        var send = await b.PostAsJsonAsync($"/api/agents/me/chats/{chatId}/messages", new { messages = new[] { HangarStack.UserMessage("hi") }, behavior = "append" }, Ct);
        Assert.Equal(HttpStatusCode.NotFound, send.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await b.DeleteAsync($"/api/agents/me/chats/{chatId}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync($"/api/agents/me/chats/{chatId}", Ct)).StatusCode);
    }

    [Fact]
    public async Task BadCredentials_AreRefused_AndEachKindOnlyOpensItsOwnRoutes()
    {
        var (agentId, deploymentId, token) = await stack.DeployAgentAsync();
        using var anonymous = HangarStack.Client(stack.ApiUrls[0], null);
        using var garbage = stack.AgentClient("hgd_not_a_token");
        using var forged = stack.AgentClient("eyJmYWtlIjoxfQ.c2lnbmF0dXJl");
        using var apiKeyOnAgentRoutes = stack.AgentClient(HangarStack.ApiKey);
        using var tokenOnUserRoutes = stack.AgentClient(token);
        foreach (var client in new[] { anonymous, garbage, forged, apiKeyOnAgentRoutes })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(Storage("x"), Ct)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await tokenOnUserRoutes.GetAsync("/api/agents", Ct)).StatusCode);

        var second = await stack.Api.PostAsync($"/api/agents/{agentId}/deployments/{deploymentId}/tokens", null, Ct);
        var created = (await second.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        (await stack.Api.DeleteAsync($"/api/agents/{agentId}/deployments/{deploymentId}/tokens/{created["id"]}", Ct)).EnsureSuccessStatusCode();
        using var revoked = stack.AgentClient(created["token"]!.ToString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await revoked.GetAsync(Storage("x"), Ct)).StatusCode);
        var listed = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/agents/{agentId}/deployments/{deploymentId}/tokens", Ct);
        Assert.Equal(2, listed!.Count);
        Assert.All(listed, t => Assert.Null(t!["token"]));
    }

    [Fact]
    public async Task Chats_UpsertByKeyExactly_SendMessagesThroughTheControlLoop_AndStop()
    {
        var (agentId, _, token) = await stack.DeployAgentAsync();
        using var agent = stack.AgentClient(token);
        var key = "\"[\\\"echo\\\",\\\"side\\\"]\"";
        var first = await (await agent.PutAsync("/api/agents/me/chats/" + Uri.EscapeDataString(key), null, Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        var again = await (await agent.PutAsync("/api/agents/me/chats/" + Uri.EscapeDataString(key), null, Ct)).Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.True(first!["created"]!.GetValue<bool>());
        Assert.False(again!["created"]!.GetValue<bool>());
        Assert.Equal(first["id"]!.ToString(), again["id"]!.ToString());
        await using (var db = NpgsqlDataSource.Create(stack.PostgresConnectionString))
        await using (var command = db.CreateCommand("select agent_key from chats where id = $1"))
        {
            command.Parameters.AddWithValue(Guid.Parse(first["id"]!.ToString()));
            Assert.Equal(key, await command.ExecuteScalarAsync(Ct));
        }

        var chatId = first["id"]!.ToString();
        var sent = await agent.PostAsJsonAsync($"/api/agents/me/chats/{Uri.EscapeDataString(key)}/messages", new { messages = new[] { HangarStack.UserMessage("from the agent") }, behavior = "enqueue" }, Ct);
        Assert.Equal(HttpStatusCode.NoContent, sent.StatusCode);
        var messages = await HangarStack.WaitForAsync(async () =>
        {
            var list = await agent.GetFromJsonAsync<JsonArray>($"/api/agents/me/chats/{chatId}/messages", Ct);
            return list!.Count == 2 ? list : null;
        });
        Assert.Equal(["id", "role", "parts", "metadata"], messages[0]!.AsObject().Select(p => p.Key));
        Assert.Equal("echo: from the agent", messages[1]!["parts"]![1]!["text"]!.ToString());

        var chat = await agent.GetFromJsonAsync<JsonObject>($"/api/agents/me/chats/{chatId}", Ct);
        Assert.Equal(["id", "createdAt"], chat!.Select(p => p.Key));
        Assert.Equal(HttpStatusCode.NoContent, (await agent.PostAsync($"/api/agents/me/chats/{chatId}/stop", null, Ct)).StatusCode);
        var delete = await agent.PostAsJsonAsync($"/api/agents/me/chats/{chatId}/messages/delete", new { message_ids = new[] { messages[0]!["id"]!.ToString() } }, Ct);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Single((await agent.GetFromJsonAsync<JsonArray>($"/api/agents/me/chats/{chatId}/messages", Ct))!);
        var publicView = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/chats/{chatId}", Ct);
        Assert.Equal(agentId.ToString(), publicView!["agent_id"]!.ToString());
        Assert.Equal(HttpStatusCode.NoContent, (await agent.DeleteAsync($"/api/agents/me/chats/{chatId}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Api.GetAsync($"/api/chats/{chatId}", Ct)).StatusCode);
    }

    private static string Storage(string key) => "/api/agents/me/storage/" + Uri.EscapeDataString(key);
}
