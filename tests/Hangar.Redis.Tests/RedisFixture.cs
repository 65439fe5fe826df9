using Hangar.Testing;

namespace Hangar.Redis.Tests;

/// <summary>One real redis-server for the test class, on a free loopback port.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public RedisServer Server { get; private set; } = null!;

    public RedisOptions Options => RedisOptions.Parse(Server.ConnectionString);

    public async ValueTask InitializeAsync() => Server = await RedisServer.StartAsync();

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
