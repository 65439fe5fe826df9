using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace ApiService.Tests;

/// <summary>
/// Plays the runtime wrapper's part for the Blink SDK's internal API (shared/protocol/blink §4, recordings 12 and 13)
/// until the real wrapper exists: serves <c>/kv</c>, <c>/chat</c> and <c>/otlp/v1/traces</c> at <c>BLINK_API_URL</c> and
/// forwards them to ApiService's <c>/api/agents/me/*</c> and <c>/api/otlp/*</c> with a deployment token.
/// </summary>
public sealed class WrapperShim : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream = new() { Timeout = TimeSpan.FromSeconds(30) };

    private WrapperShim(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    /// <summary>Where ApiService is, and the deployment token to call it with; set by the test.</summary>
    public string Upstream { get; set; } = string.Empty;

    public string Token { get; set; } = string.Empty;

    public static async Task<WrapperShim> StartAsync()
    {
        var (app, url) = LoopbackApp.Create();
        var shim = new WrapperShim(app, url);
        app.MapGet("/kv", (HttpContext c) => shim.ForwardAsync(c, HttpMethod.Get, "/api/agents/me/storage" + c.Request.QueryString, null));
        app.MapGet("/kv/{key}", shim.GetValueAsync);
        app.MapPost("/kv/{key}", shim.SetValueAsync);
        app.MapDelete("/kv/{key}", (HttpContext c, string key) => shim.ForwardAsync(c, HttpMethod.Delete, "/api/agents/me/storage/" + Uri.EscapeDataString(key), null));
        app.MapPost("/chat/{key}", shim.UpsertChatAsync);
        app.MapPost("/chat/{id}/sendMessages", shim.SendMessagesAsync);
        app.MapGet("/chat/{id}", (HttpContext c, string id) => shim.ForwardAsync(c, HttpMethod.Get, "/api/agents/me/chats/" + id, null));
        app.MapGet("/chat/{id}/messages", (HttpContext c, string id) => shim.ForwardAsync(c, HttpMethod.Get, $"/api/agents/me/chats/{id}/messages", null));
        app.MapPost("/chat/{id}/start", (HttpContext c, string id) => shim.ForwardAsync(c, HttpMethod.Post, $"/api/agents/me/chats/{id}/start", null));
        app.MapPost("/chat/{id}/stop", (HttpContext c, string id) => shim.ForwardAsync(c, HttpMethod.Post, $"/api/agents/me/chats/{id}/stop", null));
        app.MapDelete("/chat/{id}", (HttpContext c, string id) => shim.ForwardAsync(c, HttpMethod.Delete, "/api/agents/me/chats/" + id, null));
        app.MapPost("/otlp/v1/traces", async (HttpContext c) =>
        {
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            var content = new ByteArrayContent(body.ToArray());
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(c.Request.ContentType ?? "application/json");
            await shim.ForwardAsync(c, HttpMethod.Post, "/api/otlp/v1/traces", content);
        });
        await app.StartAsync();
        return shim;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _upstream.Dispose();
    }

    /// <summary><c>{"value": …}</c> from the raw stored value; an absent key has no value.</summary>
    private async Task GetValueAsync(HttpContext context, string key)
    {
        using var response = await SendAsync(HttpMethod.Get, "/api/agents/me/storage/" + Uri.EscapeDataString(key), null);
        var value = response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync() : null;
        await context.Response.WriteAsJsonAsync(new JsonObject { ["value"] = value });
    }

    private async Task SetValueAsync(HttpContext context, string key)
    {
        var body = await JsonSerializer.DeserializeAsync<JsonObject>(context.Request.Body);
        var value = new StringContent(body!["value"]!.GetValue<string>(), Encoding.UTF8);
        await ForwardAsync(context, HttpMethod.Put, "/api/agents/me/storage/" + Uri.EscapeDataString(key), value);
    }

    /// <summary>The SDK's key (a JSON array, already JSON-encoded once) is JSON-encoded again, as Blink's wrapper does.</summary>
    private async Task UpsertChatAsync(HttpContext context, string key)
    {
        using var response = await SendAsync(HttpMethod.Put, "/api/agents/me/chats/" + Uri.EscapeDataString(JsonSerializer.Serialize(key)), null);
        var chat = await response.Content.ReadFromJsonAsync<JsonObject>();
        context.Response.StatusCode = (int)response.StatusCode;
        await context.Response.WriteAsJsonAsync(new JsonObject { ["id"] = chat!["id"]!.DeepClone(), ["createdAt"] = chat["created_at"]!.DeepClone(), ["created"] = chat["created"]!.DeepClone() });
    }

    private async Task SendMessagesAsync(HttpContext context, string id)
    {
        var body = (await JsonSerializer.DeserializeAsync<JsonObject>(context.Request.Body))!;
        var upstream = new JsonObject { ["messages"] = body["messages"]!.DeepClone(), ["behavior"] = body["options"]?["behavior"]?.DeepClone() ?? "enqueue" };
        await ForwardAsync(context, HttpMethod.Post, $"/api/agents/me/chats/{id}/messages", JsonContent.Create(upstream));
    }

    private async Task ForwardAsync(HttpContext context, HttpMethod method, string path, HttpContent? content)
    {
        using var response = await SendAsync(method, path, content);
        context.Response.StatusCode = (int)response.StatusCode;
        if (response.Content.Headers.ContentType is { } type)
        {
            context.Response.ContentType = type.ToString();
        }

        await response.Content.CopyToAsync(context.Response.Body);
    }

    private Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content)
    {
        var request = new HttpRequestMessage(method, Upstream + path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return _upstream.SendAsync(request);
    }
}
