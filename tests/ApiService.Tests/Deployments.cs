using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace ApiService.Tests;

/// <summary>
/// What the whole-stack tests do with deployed agents, against any ApiService (the test stack's, a published compose
/// stack's): create an agent, upload a bundle, wait for the deployment, and hold one turn with it.
/// </summary>
public static class Deployments
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<Guid> CreateAgentAsync(HttpClient api, string prefix = "deployed")
    {
        var created = await api.PostAsJsonAsync("/api/agents", new { name = $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}" }, Ct);
        created.EnsureSuccessStatusCode();
        return (await created.Content.ReadFromJsonAsync<JsonObject>(Ct))!["id"]!.GetValue<Guid>();
    }

    /// <summary>Uploads a bundle as the agent's new deployment; the deployment as answered (201).</summary>
    public static async Task<JsonObject> UploadAsync(HttpClient api, Guid agentId, byte[] archive, string entrypoint, string runtime, string? environment = null)
    {
        using var form = Bundles.Form(archive, entrypoint, runtime, environment);
        var response = await api.PostAsync($"/api/agents/{agentId}/deployments", form, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
        return (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
    }

    /// <summary>Polls the deployment until it has <paramref name="status"/>; throws with its error when it failed instead.</summary>
    public static Task<JsonObject> WaitForStatusAsync(HttpClient api, Guid agentId, JsonObject deployment, string status, int seconds = 45) =>
        WaitForAsync(api, agentId, deployment, d =>
        {
            var now = d["status"]!.ToString();
            return now == status ? true : now == "failed" ? throw new InvalidOperationException($"The deployment failed: {d["error"]}") : false;
        }, seconds);

    public static async Task<JsonObject> WaitForAsync(HttpClient api, Guid agentId, JsonObject deployment, Func<JsonObject, bool> condition, int seconds = 45) =>
        await HangarStack.WaitForAsync(async () =>
        {
            var current = await api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/deployments/{deployment["id"]}", Ct);
            return condition(current!) ? current : null;
        }, seconds);

    /// <summary>One turn, streamed from the StreamHub the answer links to until the run ends; the text of the agent's reply.</summary>
    public static async Task<string> ChatAsync(HttpClient api, Guid agentId, string text)
    {
        var response = await api.PostAsJsonAsync("/api/chats", new { agent_id = agentId, messages = new[] { HangarStack.UserMessage(text) } }, Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!;
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(body), SseClient.RunEnded);
        Assert.True(events[^1].Data["status"]!.ToString() == "completed", events[^1].RawData);
        var messages = await api.GetFromJsonAsync<JsonArray>($"/api/chats/{body["chat"]!["id"]}/messages", Ct);
        return messages![^1]!["parts"]!.AsArray().Single(p => p!["type"]!.ToString() == "text")!["text"]!.ToString();
    }
}
