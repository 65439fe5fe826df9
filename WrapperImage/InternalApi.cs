using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Features;

namespace Hangar.Wrapper;

/// <summary>
/// The Blink SDK's internal API (shared/protocol/blink §4), served on loopback at <c>BLINK_API_URL</c> and forwarded to
/// ApiService's <c>/api/agents/me/*</c> and <c>/api/otlp/*</c> (recordings 12 and 13). Calls made during a step go
/// with the step's invocation token (<see cref="InvocationTokens"/>), others with the deployment token.
/// </summary>
internal sealed class InternalApi(HttpClient upstream, string deploymentToken, InvocationTokens tokens)
{
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/kv", c => ForwardAsync(c, HttpMethod.Get, "api/agents/me/storage" + c.Request.QueryString, null));
        app.MapGet("/kv/{key}", GetValueAsync);
        app.MapPost("/kv/{key}", SetValueAsync);
        app.MapDelete("/kv/{key}", c => ForwardAsync(c, HttpMethod.Delete, StoragePath(c), null));
        app.MapPost("/chat/{key}", UpsertChatAsync);
        app.MapGet("/chat/{id}", (HttpContext c, string id) => ForwardAsync(c, HttpMethod.Get, $"api/agents/me/chats/{Uri.EscapeDataString(id)}", null));
        app.MapDelete("/chat/{id}", (HttpContext c, string id) => ForwardAsync(c, HttpMethod.Delete, $"api/agents/me/chats/{Uri.EscapeDataString(id)}", null));
        app.MapGet("/chat/{id}/messages", (HttpContext c, string id) => ForwardAsync(c, HttpMethod.Get, $"api/agents/me/chats/{Uri.EscapeDataString(id)}/messages", null));
        app.MapDelete("/chat/{id}/messages", DeleteMessagesAsync);
        app.MapPost("/chat/{id}/sendMessages", SendMessagesAsync);
        app.MapPost("/chat/{id}/start", (HttpContext c, string id) => ForwardAsync(c, HttpMethod.Post, $"api/agents/me/chats/{Uri.EscapeDataString(id)}/start", null));
        app.MapPost("/chat/{id}/stop", (HttpContext c, string id) => ForwardAsync(c, HttpMethod.Post, $"api/agents/me/chats/{Uri.EscapeDataString(id)}/stop", null));
        app.MapPost("/otlp/v1/traces", c => ForwardBodyAsync(c, "api/otlp/v1/traces"));
        app.MapPost("/otlp/v1/logs", c => ForwardBodyAsync(c, "api/otlp/v1/logs"));
    }

    /// <summary><c>{"value": …}</c> from the raw stored value; an absent key has no value.</summary>
    private async Task GetValueAsync(HttpContext context)
    {
        using var response = await SendAsync(context, HttpMethod.Get, StoragePath(context), null);
        if (!response.IsSuccessStatusCode && response.StatusCode != System.Net.HttpStatusCode.NotFound)
        {
            await CopyAsync(context, response);
            return;
        }

        var value = response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync(context.RequestAborted) : null;
        await context.Response.WriteAsJsonAsync(new JsonObject { ["value"] = value }, context.RequestAborted);
    }

    /// <summary><c>{"value": "…", "ttl"?: seconds}</c> becomes the raw value, stored exactly.</summary>
    private async Task SetValueAsync(HttpContext context)
    {
        var body = await ReadJsonAsync(context);
        if (body?["value"] is not JsonValue value || !value.TryGetValue<string>(out var text))
        {
            await BadRequestAsync(context, "The body must be {\"value\": \"<string>\"}.");
            return;
        }

        var ttl = body["ttl"] is JsonValue t && t.TryGetValue<double>(out var seconds) ? $"?ttl={(long)Math.Ceiling(seconds)}" : "";
        await ForwardAsync(context, HttpMethod.Put, StoragePath(context) + ttl,
            new StringContent(text, Encoding.UTF8, "text/plain"));
    }

    /// <summary>The SDK's key (a JSON array, already JSON-encoded once) is JSON-encoded again, as Blink's wrapper does.</summary>
    private async Task UpsertChatAsync(HttpContext context)
    {
        var key = RawTail(context, "/chat/");
        using var response = await SendAsync(context, HttpMethod.Put, "api/agents/me/chats/" + Uri.EscapeDataString(JsonSerializer.Serialize(key)), null);
        if (!response.IsSuccessStatusCode)
        {
            await CopyAsync(context, response);
            return;
        }

        var chat = (await response.Content.ReadFromJsonAsync<JsonObject>(context.RequestAborted))!;
        context.Response.StatusCode = (int)response.StatusCode;
        await context.Response.WriteAsJsonAsync(
            new JsonObject { ["id"] = chat["id"]!.DeepClone(), ["createdAt"] = chat["created_at"]!.DeepClone(), ["created"] = chat["created"]!.DeepClone() },
            context.RequestAborted);
    }

    /// <summary><c>{id, messages, options: {behavior}}</c> becomes <c>{messages, behavior}</c>.</summary>
    private async Task SendMessagesAsync(HttpContext context, string id)
    {
        var body = await ReadJsonAsync(context);
        if (body?["messages"] is not JsonArray messages)
        {
            await BadRequestAsync(context, "The body must have a 'messages' array.");
            return;
        }

        var upstreamBody = new JsonObject { ["messages"] = messages.DeepClone(), ["behavior"] = body["options"]?["behavior"]?.DeepClone() ?? "enqueue" };
        await ForwardAsync(context, HttpMethod.Post, $"api/agents/me/chats/{Uri.EscapeDataString(id)}/messages", JsonContent.Create(upstreamBody));
    }

    /// <summary><c>DELETE …/messages?message=a&amp;message=b</c> becomes <c>POST …/messages/delete {message_ids}</c>.</summary>
    private Task DeleteMessagesAsync(HttpContext context, string id)
    {
        var ids = new JsonArray([.. context.Request.Query["message"].Select(m => (JsonNode?)JsonValue.Create(m))]);
        return ForwardAsync(context, HttpMethod.Post, $"api/agents/me/chats/{Uri.EscapeDataString(id)}/messages/delete", JsonContent.Create(new JsonObject { ["message_ids"] = ids }));
    }

    private async Task ForwardBodyAsync(HttpContext context, string path)
    {
        var content = new StreamContent(context.Request.Body);
        if (context.Request.ContentType is { } type)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        }

        if (context.Request.Headers.ContentEncoding.ToString() is { Length: > 0 } encoding)
        {
            content.Headers.ContentEncoding.Add(encoding);
        }

        await ForwardAsync(context, HttpMethod.Post, path, content);
    }

    private async Task ForwardAsync(HttpContext context, HttpMethod method, string path, HttpContent? content)
    {
        using var response = await SendAsync(context, method, path, content);
        await CopyAsync(context, response);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpContext context, HttpMethod method, string path, HttpContent? content)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        var token = tokens.ForBaggage(context.Request.Headers["baggage"]) ?? deploymentToken;
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        foreach (var name in (string[])["traceparent", "tracestate", "baggage"])
        {
            if (context.Request.Headers[name].ToString() is { Length: > 0 } value)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        try
        {
            return await upstream.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        }
        catch (HttpRequestException ex)
        {
            return new HttpResponseMessage(System.Net.HttpStatusCode.BadGateway)
            {
                Content = new StringContent($"The platform at {upstream.BaseAddress} is not reachable: {ex.Message}"),
            };
        }
    }

    private static async Task CopyAsync(HttpContext context, HttpResponseMessage response)
    {
        context.Response.StatusCode = (int)response.StatusCode;
        if (response.Content.Headers.ContentType is { } type)
        {
            context.Response.ContentType = type.ToString();
        }

        await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    private static async Task<JsonObject?> ReadJsonAsync(HttpContext context)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<JsonNode>(context.Request.Body, cancellationToken: context.RequestAborted) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static Task BadRequestAsync(HttpContext context, string problem)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        return context.Response.WriteAsync(problem, context.RequestAborted);
    }

    /// <summary>The upstream path of the key in <c>/kv/{key}</c>.</summary>
    private static string StoragePath(HttpContext context) => "api/agents/me/storage/" + Uri.EscapeDataString(RawTail(context, "/kv/"));

    /// <summary>The rest of the path after <paramref name="prefix"/>, decoded from the raw target so that <c>%2F</c> stays part of a key.</summary>
    private static string RawTail(HttpContext context, string prefix)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        var path = raw.Split('?', 2)[0];
        return Uri.UnescapeDataString(path[prefix.Length..]);
    }
}
