using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ApiService.Tests;

/// <summary>
/// Sits between Hangar and an agent: forwards every request unchanged, streams the answer back as it arrives, and
/// keeps each agent call's request and response bodies, so tests can compare what the agent sent with what clients got.
/// </summary>
public sealed class RecordingProxy : IAsyncDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Host", "Content-Length",
    };

    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly List<RecordedCall> _calls = [];
    private int _inFlight;

    private RecordingProxy(WebApplication app, string target, string url)
    {
        _app = app;
        _upstream = new HttpClient { BaseAddress = new Uri(target), Timeout = Timeout.InfiniteTimeSpan };
        Url = url;
    }

    public sealed record RecordedCall(string Path, string RequestBody, string ResponseBody);

    public string Url { get; }

    /// <summary>
    /// The calls recorded, once every call forwarded so far has ended: Hangar ends a step at the agent's <c>[DONE]</c>,
    /// and the agent may close its response a moment after the client saw the run end.
    /// </summary>
    public Task<List<RecordedCall>> CallsAsync() => HangarStack.WaitForAsync(() =>
    {
        lock (_calls)
        {
            return Task.FromResult(_inFlight == 0 ? _calls.ToList() : null);
        }
    });

    public static async Task<RecordingProxy> StartAsync(string target)
    {
        var (app, url) = LoopbackApp.Create();
        var proxy = new RecordingProxy(app, target, url);
        app.Run(proxy.ForwardAsync);
        await app.StartAsync();
        return proxy;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _upstream.Dispose();
    }

    private async Task ForwardAsync(HttpContext context)
    {
        lock (_calls)
        {
            _inFlight++;
        }

        try
        {
            await ForwardAndRecordAsync(context);
        }
        finally
        {
            lock (_calls)
            {
                _inFlight--;
            }
        }
    }

    private async Task ForwardAndRecordAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString)
        {
            Content = new ByteArrayContent(body.ToArray()),
        };
        foreach (var (name, values) in context.Request.Headers)
        {
            if (!HopByHop.Contains(name) && !request.Headers.TryAddWithoutValidation(name, values.ToArray()))
            {
                request.Content.Headers.TryAddWithoutValidation(name, values.ToArray());
            }
        }

        using var response = await _upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (!HopByHop.Contains(name))
            {
                context.Response.Headers[name] = values.ToArray();
            }
        }

        var recorded = new MemoryStream();
        await using var upstream = await response.Content.ReadAsStreamAsync(context.RequestAborted);
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await upstream.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            recorded.Write(buffer, 0, read);
            await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }

        lock (_calls)
        {
            _calls.Add(new RecordedCall(context.Request.Path, Encoding.UTF8.GetString(body.ToArray()), Encoding.UTF8.GetString(recorded.ToArray())));
        }
    }
}
