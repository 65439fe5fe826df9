using System.Buffers;
using System.Diagnostics;
using System.Net;

namespace Hangar.Wrapper;

/// <summary>
/// Everything that reaches <c>PORT</c> goes to the agent on <c>PORT+1</c>: request and response bodies stream through
/// as they arrive (a UI message stream reaches the platform chunk by chunk), headers pass unchanged but for the
/// hop-by-hop ones. A step's invocation token is also handed to the agent as <c>x-blink-internal-auth</c>, which the
/// Blink SDK makes the request's auth context, as Blink's own wrapper does.
/// </summary>
internal sealed class AgentProxy(WrapperOptions options, InvocationTokens tokens)
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host",
    };

    private readonly HttpMessageInvoker _agent = new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        ActivityHeadersPropagator = DistributedContextPropagator.CreateNoOutputPropagator(),
    });

    private readonly string _agentBase = $"http://127.0.0.1:{options.AgentPort}";

    public async Task ForwardAsync(HttpContext context)
    {
        var request = context.Request;
        using var upstream = new HttpRequestMessage(new HttpMethod(request.Method), _agentBase + request.Path.ToUriComponent() + request.QueryString.ToUriComponent());
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            upstream.Content = new StreamContent(request.Body);
        }

        foreach (var (name, values) in request.Headers)
        {
            if (!HopByHop.Contains(name) && !upstream.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                upstream.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        using var step = Remember(request, upstream);
        HttpResponseMessage response;
        try
        {
            response = await _agent.SendAsync(upstream, context.RequestAborted);
        }
        catch (HttpRequestException ex)
        {
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            await context.Response.WriteAsync($"The agent is not answering on port {options.AgentPort}: {ex.Message}", context.RequestAborted);
            return;
        }

        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (!HopByHop.Contains(name))
                {
                    context.Response.Headers[name] = values.ToArray();
                }
            }

            await context.Response.StartAsync(context.RequestAborted);
            await using var body = await response.Content.ReadAsStreamAsync(context.RequestAborted);
            var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                int read;
                while ((read = await body.ReadAsync(buffer, context.RequestAborted)) > 0)
                {
                    await context.Response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private IDisposable? Remember(HttpRequest request, HttpRequestMessage upstream)
    {
        if (request.Headers["x-blink-invocation-token"].ToString() is not { Length: > 0 } token)
        {
            return null;
        }

        upstream.Headers.Remove("x-blink-internal-auth");
        upstream.Headers.TryAddWithoutValidation("x-blink-internal-auth", token);
        return request.Headers["x-blink-invocation-step-id"].ToString() is { Length: > 0 } stepId ? tokens.Remember(stepId, token) : null;
    }
}
