using System.Text;

namespace ApiService.Tests;

/// <summary>With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, every service exports traces, metrics and logs over OTLP/HTTP.</summary>
[Collection(nameof(HangarStack))]
public sealed class TelemetryTests(HangarStack stack)
{
    [Theory]
    [InlineData("Hangar.ApiService", "traces")]
    [InlineData("Hangar.ApiService", "metrics")]
    [InlineData("Hangar.ApiService", "logs")]
    [InlineData("Hangar.StreamHub", "traces")]
    [InlineData("Hangar.StreamHub", "metrics")]
    [InlineData("Hangar.StreamHub", "logs")]
    public async Task EveryService_ExportsEverySignal_AsOtlpProtobuf(string service, string signal)
    {
        // A chat turn makes requests on both services: spans, request metrics and log records.
        var (_, send) = await stack.StartChatAsync("telemetry");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);

        var name = Encoding.UTF8.GetBytes(service);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!stack.Otlp.Exports(signal).Any(e => e.Body.AsSpan().IndexOf(name) >= 0) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        var exports = stack.Otlp.Exports(signal).Where(e => e.Body.AsSpan().IndexOf(name) >= 0).ToList();
        Assert.NotEmpty(exports);
        Assert.All(exports, e => Assert.Equal("application/x-protobuf", e.ContentType));
    }
}
