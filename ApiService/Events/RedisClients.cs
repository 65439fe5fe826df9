using Hangar.Redis;

namespace Hangar.ApiService.Events;

/// <summary>
/// The service's two Redis connections: one for commands (shared and pipelined) and one subscribed to signals.
/// Connected before the server takes requests; retries while Redis is still starting.
/// </summary>
internal sealed partial class RedisClients(IConfiguration configuration, ILogger<RedisClients> logger) : IHostedService, IAsyncDisposable
{
    private RedisConnection? _commands;
    private RedisSubscriber? _subscriber;

    public RedisConnection Commands => _commands ?? throw new InvalidOperationException("Redis is not connected yet.");

    public RedisSubscriber Subscriber => _subscriber ?? throw new InvalidOperationException("Redis is not connected yet.");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var connectionString = configuration.GetConnectionString("redis")
            ?? throw new InvalidOperationException("ConnectionStrings:redis is not set (environment: ConnectionStrings__redis=host:port).");
        var options = RedisOptions.Parse(connectionString) with { ClientName = "hangar-api" };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                _commands = await RedisConnection.ConnectAsync(options, logger: logger, cancellationToken: cancellationToken);
                _subscriber = await RedisSubscriber.ConnectAsync(options, logger, cancellationToken);
                return;
            }
            catch (RedisConnectionException ex) when (DateTime.UtcNow < deadline)
            {
                LogWaiting(logger, ex.Message);
                await Task.Delay(500, cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_subscriber is not null)
        {
            await _subscriber.DisposeAsync();
        }

        if (_commands is not null)
        {
            await _commands.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waiting for Redis: {Reason}")]
    private static partial void LogWaiting(ILogger logger, string reason);
}
