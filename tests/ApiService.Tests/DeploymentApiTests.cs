using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace ApiService.Tests;

/// <summary>The deployment API: the three upload forms, one stored bundle per content, problems named by field, and the environment a deployment gets.</summary>
[Collection(nameof(HangarStack))]
public sealed class DeploymentApiTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SameFiles_UploadedAsTarZipAndList_AreStoredOnce()
    {
        var agentId = await stack.CreateAgentAsync();
        var source = await File.ReadAllTextAsync(Path.Combine(Bundles.Plain, "agent.mjs"), Ct);

        using var form = Bundles.Form(Bundles.TarGz(("agent.mjs", source)), "agent.mjs", "process", target: "preview");
        var fromTar = await CreatedAsync(await stack.Api.PostAsync($"/api/agents/{agentId}/deployments", form, Ct));
        var zip = new ByteArrayContent(Zip("agent.mjs", source));
        zip.Headers.ContentType = new MediaTypeHeaderValue("application/zip");
        var fromZip = await CreatedAsync(await stack.Api.PostAsync($"/api/agents/{agentId}/deployments?entrypoint=agent.mjs&runtime=process&target=preview", zip, Ct));
        var fromList = await CreatedAsync(await stack.Api.PostAsJsonAsync($"/api/agents/{agentId}/deployments", new
        {
            runtime = "process",
            target = "preview",
            entrypoint = "agent.mjs",
            files = new[] { new { path = "agent.mjs", content = source } },
        }, Ct));

        Assert.Equal(fromTar["bundle_hash"]!.ToString(), fromZip["bundle_hash"]!.ToString());
        Assert.Equal(fromTar["bundle_hash"]!.ToString(), fromList["bundle_hash"]!.ToString());
        Assert.Equal([2, 3, 4], new[] { fromTar, fromZip, fromList }.Select(d => d["number"]!.GetValue<int>()));
        Assert.All(new[] { fromTar, fromZip, fromList }, d => Assert.Equal("pending", d["status"]!.ToString()));
        await using var connection = new NpgsqlConnection(stack.PostgresConnectionString);
        await connection.OpenAsync(Ct);
        await using var count = new NpgsqlCommand($"select count(*) from bundles where hash = decode('{fromTar["bundle_hash"]}', 'hex')", connection);
        Assert.Equal(1L, await count.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task BadUploads_Are400_NamingTheProblem_AndCreateNothing()
    {
        var agentId = await stack.CreateAgentAsync();

        await AssertProblemAsync(agentId, Bundles.Form(Bundles.TarGz(("../escape.js", "x")), "escape.js", "docker"), "bundle", "'../escape.js' is not a safe path");
        await AssertProblemAsync(agentId, Bundles.Form(Bundles.TarGz(("agent.mjs", "x")), "missing.mjs", "docker"), "entrypoint", "'missing.mjs' is not a file in the bundle.");
        await AssertProblemAsync(agentId, Bundles.Form(Bundles.TarGz(("agent.mjs", "x")), "agent.mjs", "kubernetes"), "runtime", "Must be 'external'");
        await AssertProblemAsync(agentId, Bundles.Form(Bundles.TarGz(("agent.mjs", "x")), "agent.mjs", "docker", """{"PORT":"1"}"""), "environment.PORT", "set by Hangar");
        await AssertProblemAsync(agentId, Bundles.Form(Bundles.TarGz(("agent.mjs", "x")), "agent.mjs", "docker", """{"A":1}"""), "environment.A", "Must be a string.");
        await AssertProblemAsync(agentId, Bundles.Form("not an archive"u8.ToArray(), "agent.mjs", "docker"), "bundle", "not a tar, tar.gz or zip");
        await AssertProblemAsync(agentId, JsonContent.Create(new { runtime = "docker", entrypoint = "a.js" }), "bundle", "Upload the agent's files");
        await AssertProblemAsync(agentId, JsonContent.Create(new { runtime = "docker", entrypoint = "a.js", files = new[] { new { path = "a.js" } } }), "files[0]", "one of 'content'");
        await AssertProblemAsync(agentId, new StringContent("x", null, "text/plain"), "content_type", "Send JSON, multipart/form-data");

        var deployments = await stack.Api.GetFromJsonAsync<JsonArray>($"/api/agents/{agentId}/deployments", Ct);
        Assert.Single(deployments!);
        var unknown = await stack.Api.PostAsync($"/api/agents/{Guid.NewGuid()}/deployments", Bundles.Form(Bundles.TarGz(("a.mjs", "x")), "a.mjs", "docker"), Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task AgentSecrets_ReachTheDeployment_AsItsEnvironment()
    {
        var agentId = await stack.CreateAgentAsync();
        var secret = await stack.Api.PutAsJsonAsync($"/api/agents/{agentId}/env/AGENT_MODE", new { value = "crash", secret = true }, Ct);
        secret.EnsureSuccessStatusCode();

        // The plain agent crashes when AGENT_MODE=crash: the sealed value was opened and set for the process.
        using var form = Bundles.Form(Bundles.TarGz(Bundles.Plain), "agent.mjs", "process");
        var deployment = await CreatedAsync(await stack.Api.PostAsync($"/api/agents/{agentId}/deployments", form, Ct));
        var failed = await HangarStack.WaitForAsync(async () =>
        {
            var current = await stack.Api.GetFromJsonAsync<JsonObject>($"/api/agents/{agentId}/deployments/{deployment["id"]}", Ct);
            return current!["status"]!.ToString() == "failed" ? current : null;
        }, seconds: 45);
        Assert.Contains("plain agent: crashing on purpose", failed["error"]!.ToString(), StringComparison.Ordinal);

        // A redeploy names only a known target.
        var redeploy = await stack.Api.PostAsJsonAsync($"/api/agents/{agentId}/deployments/{deployment["id"]}/redeploy", new { target = "staging" }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, redeploy.StatusCode);
    }

    private async Task AssertProblemAsync(Guid agentId, HttpContent content, string field, string message)
    {
        using (content)
        {
            var response = await stack.Api.PostAsync($"/api/agents/{agentId}/deployments", content, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var problem = await response.Content.ReadFromJsonAsync<JsonObject>(Ct);
            var errors = problem!["errors"]!.AsObject();
            Assert.True(errors.ContainsKey(field), $"No error for '{field}' in {problem.ToJsonString()}");
            Assert.Contains(message, errors[field]![0]!.ToString(), StringComparison.Ordinal);
        }
    }

    private static async Task<JsonObject> CreatedAsync(HttpResponseMessage response)
    {
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    private static byte[] Zip(string path, string content)
    {
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var stream = zip.CreateEntry(path).Open();
            stream.Write(System.Text.Encoding.UTF8.GetBytes(content));
        }

        return output.ToArray();
    }
}
