using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Aspire.Hosting.Testing;

namespace ApiService.Tests;

/// <summary>
/// The AppHost's application model as the tests' stack runs it: each service behind one proxy with its replicas,
/// every replica named in its telemetry, the keys from parameters, and settings it cannot use refused by name.
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
    public async Task UnknownServersSetting_IsRefusedByName()
    {
        var refused = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.AppHost>(["--AppHost:Servers=sideways"], Ct);
        });

        Assert.Contains("AppHost:Servers is 'sideways': use auto, local-images, official-images.", refused.ToString(), StringComparison.Ordinal);
    }
}
