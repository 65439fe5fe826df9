using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace ApiService.Tests;

/// <summary>
/// The whole stack losing a replica mid-run, started through the AppHost's composition: the Blink SDK agent deployed
/// as a bundle, a chat streamed through StreamHub, and the ApiService replica that owns the run killed with SIGKILL.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class FailoverTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task KilledReplica_ItsRunIsTakenOverByTheOther_RunAgainFromTheStoredHistory_AndCompletesOnce()
    {
        var agentId = await DeployBlinkEchoAsync();
        const string Text = "slow: this run outlives the replica that started it";
        var (chatId, send) = await stack.StartChatAsync(Text, agentId);
        var firstChunk = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = SseClient.ReadUntilAsync(
            HangarStack.StreamUrl(send),
            e =>
            {
                if (e.Type == "message.chunk.added")
                {
                    firstChunk.TrySetResult();
                }

                return SseClient.RunEnded(e);
            },
            timeout: TimeSpan.FromSeconds(60));

        // The owner's id is host:pid:nonce; it is killed once its step has streamed a few chunks.
        await firstChunk.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        var owner = await ScalarAsync<string>("select lease_owner from runs where chat_id = @chat", chatId);
        var victim = stack.Stack.ReplicaOf("apiservice", int.Parse(owner!.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture));
        var survivor = stack.Stack.Replicas("apiservice").Single(r => r != victim);
        await Task.Delay(300, Ct);
        await stack.Stack.KillAsync(victim, Ct);
        try
        {
            var events = await reading;

            Assert.True(events[^1].Data["status"]!.ToString() == "completed", events[^1].RawData);
            var interrupted = Assert.Single(events, e => e.Type == "step.updated" && e.Data["status"]!.ToString() == "interrupted");
            Assert.Contains("stopped before it ended", interrupted.Data["error"]!.ToString(), StringComparison.Ordinal);
            var chunksAfter = events.SkipWhile(e => e != interrupted).Count(e => e.Type == "message.chunk.added");
            Assert.True(chunksAfter > Text.Length, $"only {chunksAfter} chunks after the restart");

            using var api = stack.Stack.CreateHttpClient(survivor.Url);
            var runs = await api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/runs", Ct);
            var run = Assert.Single(runs!);
            Assert.Equal("completed", run!["status"]!.ToString());
            // Claimed twice: by the victim, then (the victim being down) by the survivor.
            Assert.Equal("2", await ScalarAsync<string>("select lease_epoch::text from runs where chat_id = @chat", chatId));
            var steps = await api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/runs/{run["id"]}/steps", Ct);
            Assert.Equal(["interrupted", "completed"], steps!.Select(s => s!["status"]!.ToString()));

            var messages = await api.GetFromJsonAsync<JsonArray>($"/api/chats/{chatId}/messages", Ct);
            var assistant = Assert.Single(messages!, m => m!["role"]!.ToString() == "assistant");
            Assert.Equal("echo: " + Text, assistant!["parts"]!.AsArray().Single(p => p!["type"]!.ToString() == "text")!["text"]!.ToString());
        }
        finally
        {
            await stack.Stack.StartAsync(victim, Ct);
        }
    }

    private async Task<Guid> DeployBlinkEchoAsync()
    {
        var agentId = await Deployments.CreateAgentAsync(stack.Api, "failover");
        var deployment = await Deployments.UploadAsync(stack.Api, agentId, Bundles.TarGz(Bundles.BlinkEcho), "echo-agent.js", "docker");
        await Deployments.WaitForStatusAsync(stack.Api, agentId, deployment, "running");
        return agentId;
    }

    private async Task<T?> ScalarAsync<T>(string sql, Guid chatId)
        where T : class
    {
        await using var connection = new NpgsqlConnection(stack.PostgresConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("chat", chatId);
        return await command.ExecuteScalarAsync(Ct) as T;
    }
}
