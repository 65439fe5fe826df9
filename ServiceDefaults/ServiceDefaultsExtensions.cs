using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The setup every Hangar service shares, in the shape of an Aspire ServiceDefaults project. The OpenTelemetry
/// hosting and instrumentation packages are not on our feed, so providers are built with the SDK alone and the
/// framework's own ActivitySources and Meters are subscribed to by name.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>ActivitySources that .NET, ASP.NET Core and Npgsql publish without instrumentation packages.</summary>
    private static readonly string[] FrameworkSources = ["Microsoft.AspNetCore", "System.Net.Http", "Npgsql"];

    private static readonly string[] FrameworkMeters =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http", "System.Runtime", "Npgsql",
    ];

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder, string serviceName)
        where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry(serviceName);
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        builder.Services.AddProblemDetails();
        return builder;
    }

    /// <summary>
    /// Exports traces, metrics and logs over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set. Endpoint, protocol,
    /// headers, service name and resource attributes come from the standard <c>OTEL_*</c> variables, which the SDK
    /// reads itself; nothing here overrides them.
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, string serviceName)
        where TBuilder : IHostApplicationBuilder
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            return builder;
        }

        // Only a default: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win, as the resource detectors apply after it.
        var resource = ResourceBuilder.CreateEmpty().AddService(serviceName).AddTelemetrySdk().AddEnvironmentVariableDetector();
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.SetResourceBuilder(resource);
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
            logging.AddOtlpExporter();
        });

        var tracer = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource(serviceName)
            .AddSource(FrameworkSources)
            .AddOtlpExporter()
            .Build();
        var meter = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(serviceName)
            .AddMeter(FrameworkMeters)
            .AddOtlpExporter()
            .Build();

        // The container disposes both at shutdown, which flushes what is buffered.
        builder.Services.AddSingleton(tracer);
        builder.Services.AddSingleton(meter);
        return builder;
    }

    /// <summary><c>/health</c>: every check, the service's dependencies included. <c>/alive</c>: the process answers.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health");
        app.MapHealthChecks("/alive", new HealthCheckOptions { Predicate = check => check.Tags.Contains("live") });
        return app;
    }
}
