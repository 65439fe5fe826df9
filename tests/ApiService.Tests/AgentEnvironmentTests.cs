using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Hangar.Contracts;
using Npgsql;

namespace ApiService.Tests;

/// <summary>Agents' environment variables: plain ones shown, secret ones sealed at rest and never returned.</summary>
[Collection(nameof(HangarStack))]
public sealed class AgentEnvironmentTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SetAndList_ShowsPlainValues_AndNeverSecretOnes()
    {
        var agentId = await stack.CreateAgentAsync();
        var plain = await stack.Api.PutAsJsonAsync($"/api/agents/{agentId}/env/LOG_LEVEL", new { value = "debug" }, Ct);
        var secret = await stack.Api.PutAsJsonAsync($"/api/agents/{agentId}/env/OPENAI_API_KEY", new { value = "sk-very-secret-value", secret = true }, Ct);
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Equal(HttpStatusCode.OK, secret.StatusCode);
        Assert.DoesNotContain("sk-very-secret-value", await secret.Content.ReadAsStringAsync(Ct));

        var list = await stack.Api.GetStringAsync($"/api/agents/{agentId}/env", Ct);
        Assert.DoesNotContain("sk-very-secret-value", list);
        var variables = JsonNode.Parse(list)!.AsArray();
        Assert.Equal(["LOG_LEVEL", "OPENAI_API_KEY"], variables.Select(v => v!["name"]!.ToString()));
        Assert.Equal("debug", variables[0]!["value"]!.ToString());
        Assert.True(variables[1]!["secret"]!.GetValue<bool>());
        Assert.Null(variables[1]!["value"]);

        // At rest the secret is sealed, bound to its agent and name: it opens with the signing key's box, nowhere else.
        await using var db = NpgsqlDataSource.Create(stack.PostgresConnectionString);
        await using var read = db.CreateCommand("select value, sealed from agent_env where agent_id = @agent and name = 'OPENAI_API_KEY'");
        read.Parameters.AddWithValue("agent", agentId);
        await using var reader = await read.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.True(reader.IsDBNull(0));
        var sealedValue = (byte[])reader[1];
        Assert.Equal(-1, sealedValue.AsSpan().IndexOf("sk-very-secret-value"u8));
        var box = SecretBox.FromBase64(stack.Stack.SigningKey);
        Assert.Equal("sk-very-secret-value", box.Open(sealedValue, SecretBox.AgentEnvironmentContext(agentId, "OPENAI_API_KEY")));
        Assert.ThrowsAny<CryptographicException>(() => box.Open(sealedValue, SecretBox.AgentEnvironmentContext(agentId, "OTHER")));
        Assert.ThrowsAny<CryptographicException>(() => box.Open(sealedValue, SecretBox.AgentEnvironmentContext(Guid.NewGuid(), "OPENAI_API_KEY")));
    }

    [Fact]
    public async Task Overwrite_SecretToPlainAndBack_AndDelete()
    {
        var agentId = await stack.CreateAgentAsync();
        var url = $"/api/agents/{agentId}/env/MODE";
        (await stack.Api.PutAsJsonAsync(url, new { value = "hidden", secret = true }, Ct)).EnsureSuccessStatusCode();
        (await stack.Api.PutAsJsonAsync(url, new { value = "shown" }, Ct)).EnsureSuccessStatusCode();
        var shown = (await stack.Api.GetFromJsonAsync<JsonArray>($"/api/agents/{agentId}/env", Ct))!.Single()!;
        Assert.Equal(("shown", false), (shown["value"]!.ToString(), shown["secret"]!.GetValue<bool>()));

        Assert.Equal(HttpStatusCode.NoContent, (await stack.Api.DeleteAsync(url, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Api.DeleteAsync(url, Ct)).StatusCode);
        Assert.Empty((await stack.Api.GetFromJsonAsync<JsonArray>($"/api/agents/{agentId}/env", Ct))!);
    }

    [Theory]
    [InlineData("1ST", "POSIX environment variable name")]
    [InlineData("WITH-DASH", "POSIX environment variable name")]
    [InlineData("PORT", "set by Hangar")]
    [InlineData("BLINK_DEPLOYMENT_TOKEN", "set by Hangar")]
    [InlineData("HANGAR_WRAPPER_HOST", "set by Hangar")]
    public async Task BadNames_Are400_NamingTheProblem(string name, string problem)
    {
        var agentId = await stack.CreateAgentAsync();
        var response = await stack.Api.PutAsJsonAsync($"/api/agents/{agentId}/env/{name}", new { value = "x" }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(problem, await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task BadValues_Are400_AndUnknownAgents404()
    {
        var agentId = await stack.CreateAgentAsync();
        var missing = await stack.Api.PutAsJsonAsync($"/api/agents/{agentId}/env/A", new { secret = true }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        var huge = await stack.Api.PutAsJsonAsync($"/api/agents/{agentId}/env/A", new { value = new string('x', 32 * 1024 + 1) }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, huge.StatusCode);
        Assert.Contains("At most 32768 bytes", await huge.Content.ReadAsStringAsync(Ct));

        var unknown = Guid.NewGuid();
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Api.PutAsJsonAsync($"/api/agents/{unknown}/env/A", new { value = "x" }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Api.GetAsync($"/api/agents/{unknown}/env", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Api.DeleteAsync($"/api/agents/{unknown}/env/A", Ct)).StatusCode);
    }
}
