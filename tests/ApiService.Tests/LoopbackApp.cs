using Hangar.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace ApiService.Tests;

/// <summary>A quiet Kestrel app on a free loopback port: the base of the small servers the tests stand up.</summary>
public static class LoopbackApp
{
    public static (WebApplication App, string Url) Create()
    {
        var url = $"http://127.0.0.1:{FreePort.Next()}";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.ClearProviders();
        return (builder.Build(), url);
    }
}
