using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ApiService.Tests;

/// <summary>
/// A loopback OTLP/HTTP endpoint (<c>/v1/traces</c>, <c>/v1/metrics</c>, <c>/v1/logs</c>) that keeps every export
/// request and answers as a collector does: 200 with an empty protobuf response.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<(string Signal, string ContentType, byte[] Body)> _exports = [];

    private OtlpReceiver(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    public static async Task<OtlpReceiver> StartAsync()
    {
        var (app, url) = LoopbackApp.Create();
        var receiver = new OtlpReceiver(app, url);
        app.MapPost("/v1/{signal}", async (string signal, HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            lock (receiver._exports)
            {
                receiver._exports.Add((signal, context.Request.ContentType ?? string.Empty, body.ToArray()));
            }

            context.Response.ContentType = "application/x-protobuf";
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>The export requests received so far for one signal (<c>traces</c>, <c>metrics</c>, <c>logs</c>).</summary>
    public IReadOnlyList<(string ContentType, byte[] Body)> Exports(string signal)
    {
        lock (_exports)
        {
            return [.. _exports.Where(e => e.Signal == signal).Select(e => (e.ContentType, e.Body))];
        }
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
