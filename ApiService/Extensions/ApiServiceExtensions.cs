using System.Text.Json;
using Hangar.ApiService.AgentApi;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Chats;
using Hangar.ApiService.Data;
using Hangar.ApiService.Events;
using Hangar.ApiService.Http;
using Hangar.ApiService.Runs;
using Hangar.ApiService.Telemetry;
using Hangar.Contracts;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Hangar.ApiService.Extensions;

public static class ApiServiceExtensions
{
    public static IHostApplicationBuilder AddApiServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<HangarOptions>().BindConfiguration(HangarOptions.Section)
            .Validate(o => !string.IsNullOrWhiteSpace(o.SigningKey), "Hangar:SigningKey is required (base64, 32 bytes or more; StreamHub needs the same).")
            .ValidateOnStart();
        services.AddOptions<RunOptions>().BindConfiguration(RunOptions.Section).ValidateOnStart();
        services.AddOptions<DeploymentOptions>().BindConfiguration(DeploymentOptions.Section)
            .Validate(o => o.DefaultRuntime is "docker" or "process", "Hangar:Deployments:DefaultRuntime must be 'docker' or 'process'.")
            .Validate(o => o.MaxUploadBytes > 0 && o.MaxUnpackedBytes > 0 && o.MaxFiles > 0, "Hangar:Deployments limits must be positive.")
            .ValidateOnStart();
        services.AddSingleton(TimeProvider.System);

        builder.AddNpgsqlDataSource("postgres", configureDataSourceBuilder: dataSource =>
        {
            // The control loop runs the same few statements for every step: prepared once per connection, they skip
            // parsing and planning (about half their time in the database). A connection string may say otherwise.
            if (dataSource.ConnectionStringBuilder.MaxAutoPrepare == 0)
            {
                dataSource.ConnectionStringBuilder.MaxAutoPrepare = 64;
            }

            // Nothing leaves session state on a pooled connection (settings are SET LOCAL, the one session lock is
            // released in a finally), so a connection taken from the pool skips the reset Npgsql would send before
            // its first statement: in the streaming benchmark's W2 that reset was 18 % of the database's statement time.
            dataSource.ConnectionStringBuilder.NoResetOnClose = true;
        });
        services.AddSingleton(sp => TokenSigner.FromBase64(sp.GetRequiredService<IOptions<HangarOptions>>().Value.SigningKey, "Hangar:SigningKey"));
        services.AddSingleton(sp => SecretBox.FromBase64(sp.GetRequiredService<IOptions<HangarOptions>>().Value.SigningKey!));

        // Hosted services start in this order, all before the server takes requests.
        services.AddSingleton<Migrator>();
        services.AddHostedService<DatabaseInitializer>();
        services.AddSingleton<RedisClients>();
        services.AddHostedService(sp => sp.GetRequiredService<RedisClients>());
        services.AddSingleton<RunSignals>();
        services.AddHostedService(sp => sp.GetRequiredService<RunSignals>());

        services.AddSingleton<ChatEventPublisher>();
        services.AddSingleton<ChatService>();
        services.AddSingleton<StreamTickets>();
        services.AddSingleton<RunStore>();
        services.AddSingleton<AgentInvoker>();
        services.AddSingleton<RunExecutor>();

        // The recorder starts before and stops after the worker whose spans it stores.
        services.AddSingleton<TelemetryStore>();
        services.AddHostedService<RunSpanRecorder>();
        services.AddSingleton<RunWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<RunWorker>());
        // The agent call's timeouts are the control loop's (RunOptions), and a retry would call the agent twice: no
        // resilience handler (RemoveAllResilienceHandlers lets one client out of the defaults; it is experimental).
#pragma warning disable EXTEXP0001
        services.AddHttpClient(AgentInvoker.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                ConnectTimeout = sp.GetRequiredService<IOptions<RunOptions>>().Value.AgentConnectTimeout,
                // Node's HTTP server (Blink's agents) closes a keep-alive connection idle for 5 s: a request sent on it
                // as it closes fails with a reset (seen in the streaming benchmark's W3). Idle ones retire first.
                PooledConnectionIdleTimeout = TimeSpan.FromSeconds(4),
                AutomaticDecompression = System.Net.DecompressionMethods.None,
                // No HttpClient span and no trace headers of the handler's: the step's agent.chat span is the client
                // span, and the request carries its traceparent (OpenTelemetry's HttpClient instrumentation would
                // replace that header with its own span's id).
                ActivityHeadersPropagator = null,
            })
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001

        services.AddSingleton<AgentStore>();
        services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section)
            .Validate(o => o.MaxRequestBytes > 0 && o.Retention > TimeSpan.Zero && o.RetentionInterval > TimeSpan.Zero, "Hangar:Telemetry settings must be positive.")
            .ValidateOnStart();
        services.AddHostedService<RetentionJob>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, AgentTokenAuthenticationHandler>(AgentTokenAuthenticationHandler.SchemeName, null);
        services.AddAuthorization();
        services.AddExceptionHandler<BadRequestHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
        });
        services.AddOpenApi();
        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis");
        return builder;
    }
}

internal sealed class RedisHealthCheck(RedisClients redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await redis.Commands.ExecuteAsync("PING").WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is Hangar.Redis.RedisConnectionException or TimeoutException or InvalidOperationException)
        {
            return HealthCheckResult.Unhealthy("Redis is unreachable.", ex);
        }
    }
}
