using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Aspire.Hosting.Testing;
using Hangar.Testing;

namespace ApiService.Tests;

/// <summary>
/// The AppHost's application model as the tests' stack runs it: each service behind one proxy with its replicas,
/// every replica named in its telemetry, the keys from parameters, PostgreSQL and Redis as containers of the local
/// images (the shared stack runs the binaries), and settings it cannot use refused by name.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class AppHostTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ApiService_BehindItsProxy_AndEachReplica_AnswersWithTheApiKeyParameter_AndNotWithout()
    {
        var replicas = stack.Stack.Replicas("apiservice");
        Assert.Equal(2, replicas.Count);
        Assert.Equal(2, replicas.Select(r => r.Url).Distinct().Count());

        foreach (var url in replicas.Select(r => r.Url).Append(stack.Stack.ApiUrl))
        {
            using var api = stack.Stack.CreateHttpClient(url);
            using var anonymous = HangarStack.Client(url, null);
            Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/agents", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/agents", Ct)).StatusCode);
        }
    }

    [Fact]
    public async Task Telemetry_FromEveryReplica_NamesItsResourceAndReplica()
    {
        // In OTLP protobuf a resource attribute is its key, then four bytes of framing, then its string value.
        foreach (var replica in stack.Stack.Replicas("apiservice").Concat(stack.Stack.Replicas("streamhub")))
        {
            var instance = new Regex($@"service\.instance\.id[\s\S]{{4}}{Regex.Escape(replica.InstanceId)}(?![-\w])");
            var service = new Regex($@"service\.name[\s\S]{{4}}{replica.Resource}(?![-\w])");
            await HangarStack.WaitForAsync(() => Task.FromResult(
                stack.Otlp.Exports("metrics").Select(e => Encoding.Latin1.GetString(e.Body)).Any(body => instance.IsMatch(body) && service.IsMatch(body))
                    ? replica.Name : null));
        }
    }

    [Fact]
    public async Task WithTheLocalImages_PostgresAndRedisRunAsContainersWithPasswords_AndTheStackChats()
    {
        await using var app = await Stack.StartAsync(new StackOptions { Servers = "local-images", ApiReplicas = 1, StreamHubReplicas = 1, Echo = HangarStack.Echo }, Ct);

        using var docker = new TestDocker();
        foreach (var (resource, image) in new[] { ("postgres", "hangar/postgres:15"), ("redis", "hangar/redis:7") })
        {
            var container = await docker.InspectAsync(app.ContainerIdOf(resource), Ct);
            Assert.Equal(image, container!.Config!.Image);
            Assert.Contains(container.Mounts!, m => m.Name?.EndsWith($"-{resource}-data", StringComparison.Ordinal) == true);
        }

        Assert.Matches("Password=[^;]+", app.PostgresConnectionString);
        Assert.Matches("password=.+", app.RedisConnectionString);
        using var api = app.CreateHttpClient(app.ApiUrl);
        var agentId = await stack.CreateAgentAsync(api);
        var (chatId, created) = await stack.StartChatAsync("in containers", agentId, api);
        var events = await SseClient.ReadUntilAsync(HangarStack.StreamUrl(created), SseClient.RunEnded);
        Assert.Equal("completed", events[^1].Data["status"]!.ToString());
        Assert.Equal("echo: in containers", await HangarStack.LastReplyAsync(api, chatId));
    }

    [Fact]
    public async Task UnknownServersSetting_IsRefusedByName()
    {
        var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--AppHost:Servers=sideways"], Ct);
        });

        Assert.Contains("AppHost:Servers is 'sideways': use auto, local-images, official-images, binaries.", refused.ToString(), StringComparison.Ordinal);
    }
}
