using System.Globalization;
using System.Text;

namespace Hangar.Redis.Tests;

public sealed class RedisConnectionTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Commands_IssuedWithoutAwaiting_ArriveInCallOrder()
    {
        await using var connection = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        var key = "order:" + Guid.NewGuid();
        var appends = Enumerable.Range(0, 5_000).Select(i => connection.ExecuteAsync("RPUSH", key, i)).ToArray();
        var lengths = await Task.WhenAll(appends);

        Assert.Equal(Enumerable.Range(1, 5_000).Select(i => (long)i), lengths.Select(r => r.Integer));
        var all = await connection.ExecuteAsync("LRANGE", key, 0, -1);
        Assert.Equal(Enumerable.Range(0, 5_000).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), all.Elements.Select(e => e.AsString()));
    }

    [Fact]
    public async Task ErrorReply_FailsOnlyThatCommand()
    {
        await using var connection = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        var key = "err:" + Guid.NewGuid();
        var set = connection.ExecuteAsync("SET", key, "text");
        var bad = connection.ExecuteAsync("INCR", key);
        var get = connection.ExecuteAsync("GET", key);

        await set;
        var error = await Assert.ThrowsAsync<RedisServerException>(() => bad);
        Assert.Contains("not an integer", error.Message, StringComparison.Ordinal);
        Assert.Equal("text", (await get).AsString());
    }

    [Fact]
    public async Task BinaryValues_RoundTripExactly()
    {
        await using var connection = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        var key = "bin:" + Guid.NewGuid();
        var value = Enumerable.Range(0, 70_000).Select(i => (byte)(i % 256)).ToArray();
        await connection.ExecuteAsync("SET", key, value);

        var reply = await connection.ExecuteAsync("GET", key);
        Assert.Equal(value, reply.Bytes.ToArray());
        Assert.True((await connection.ExecuteAsync("GET", "missing:" + Guid.NewGuid())).IsNull);
    }

    [Fact]
    public async Task Streams_AddRangeAndBlockingRead()
    {
        await using var connection = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        await using var blocking = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        var key = "stream:" + Guid.NewGuid();
        var first = (await connection.ExecuteAsync("XADD", key, "*", "type", "a", "data", "{}")).AsString()!;

        var read = blocking.XReadAsync([(key, first)], count: 10, block: TimeSpan.FromSeconds(10));
        await Task.Delay(50, Ct);
        Assert.False(read.IsCompleted);
        var second = (await connection.ExecuteAsync("XADD", key, "*", "type", "b", "data", "{\"n\":1}")).AsString()!;

        var streams = await read;
        var entry = Assert.Single(Assert.Single(streams).Entries);
        Assert.Equal(second, entry.Id);
        Assert.Equal("b", Encoding.UTF8.GetString(entry["type"].Span));
        Assert.Equal([first, second], (await connection.XRangeAsync(key, "-", "+", 10)).Select(e => e.Id));
        Assert.Equal([second], (await connection.XRangeAsync(key, second, second, 10)).Select(e => e.Id));
    }

    [Fact]
    public async Task ReplyOfMegabytes_ArrivingOverManyReads_IsReadWhole()
    {
        await using var connection = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        var key = $"big-{Guid.NewGuid():N}";
        var value = new string('v', 200);
        await Task.WhenAll(Enumerable.Range(0, 20_000).Select(i => connection.ExecuteAsync("XADD", key, "*", "i", i, "v", value)));

        var entries = await connection.ExecuteAsync("XRANGE", key, "-", "+");

        Assert.Equal(20_000, entries.Count);
        Assert.Equal(Enumerable.Range(0, 20_000).Select(i => i.ToString(CultureInfo.InvariantCulture)), Enumerable.Range(0, entries.Count).Select(i => entries[i][1][1].AsString()));
        Assert.All(Enumerable.Range(0, entries.Count), i => Assert.Equal(value, entries[i][1][3].AsString()));
    }

    [Fact]
    public async Task ClientUnblock_EndsABlockingReadEarly()
    {
        await using var connection = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        await using var blocking = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        var read = blocking.XReadAsync([("never:" + Guid.NewGuid(), "$")], count: 10, block: TimeSpan.FromMinutes(1));
        await Task.Delay(50, Ct);

        await connection.ExecuteAsync("CLIENT", "UNBLOCK", blocking.ClientId);

        Assert.Empty(await read.WaitAsync(TimeSpan.FromSeconds(5), Ct));
    }

    [Fact]
    public async Task ServerRestart_FailsInFlightThenReconnects()
    {
        await using var server = await Hangar.Testing.RedisServer.StartAsync(cancellationToken: Ct);
        await using var connection = await RedisConnection.ConnectAsync(RedisOptions.Parse(server.ConnectionString), cancellationToken: Ct);
        var reconnected = new TaskCompletionSource();
        connection.Reconnected += () => reconnected.TrySetResult();
        var blocked = connection.ExecuteAsync("BLPOP", "nothing", 0);

        await server.RestartAsync(cancellationToken: Ct);

        await Assert.ThrowsAsync<RedisConnectionException>(() => blocked);
        await reconnected.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await connection.ExecuteAsync("SET", "after", "restart");
        Assert.Equal("restart", await connection.GetAsync("after"));
    }

    [Fact]
    public async Task ConnectionCutWhileAWriteIsPending_AfterReconnecting_EveryCommandGetsItsOwnReply()
    {
        await using var proxy = new CuttingProxy(redis.Server.Port);
        await using var connection = await RedisConnection.ConnectAsync(redis.Options with { Port = proxy.Port }, cancellationToken: Ct);
        var reconnected = new TaskCompletionSource();
        connection.Reconnected += () => reconnected.TrySetResult();

        // The proxy stops reading, so a flood fills the socket's buffers and a write stays pending; then the
        // connection breaks under it. More commands come in all along, before and after the reconnect.
        proxy.Stall();
        var value = new string('x', 1024);
        var flood = Enumerable.Range(0, 20_000).Select(_ => connection.ExecuteAsync("SET", "flood", value)).ToList();
        await Task.Delay(200, Ct);
        var duringCut = Enumerable.Range(0, 1000).Select(i => connection.ExecuteAsync("ECHO", i)).ToList();
        proxy.Cut();
        await reconnected.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var afterCut = await Task.WhenAll(Enumerable.Range(0, 200).Select(async wave =>
            await Task.WhenAll(Enumerable.Range(0, 10).Select(i => connection.ExecuteAsync("ECHO", wave * 10 + i))))).WaitAsync(TimeSpan.FromSeconds(10), Ct);

        Assert.Equal(Enumerable.Range(0, 2000).Select(i => i.ToString(CultureInfo.InvariantCulture)), afterCut.SelectMany(r => r).Select(r => r.AsString()));

        // Commands written before the cut failed with it; those still queued went out after the reconnect.
        var outcomes = await Task.WhenAll(flood.Select(t => OutcomeAsync(t, "OK")).Concat(duringCut.Select((t, i) => OutcomeAsync(t, i.ToString(CultureInfo.InvariantCulture)))))
            .WaitAsync(TimeSpan.FromSeconds(10), Ct);
        Assert.DoesNotContain("another command's reply", outcomes);
    }

    private static async Task<string> OutcomeAsync(Task<RedisReply> command, string expected)
    {
        try
        {
            return (await command).AsString() == expected ? "its reply" : "another command's reply";
        }
        catch (RedisConnectionException)
        {
            return "failed with the connection";
        }
    }

    [Fact]
    public async Task ConnectAsync_NothingListening_SaysWhere()
    {
        var port = Hangar.Testing.FreePort.Next();
        var error = await Assert.ThrowsAsync<RedisConnectionException>(() => RedisConnection.ConnectAsync(RedisOptions.Parse($"127.0.0.1:{port}"), cancellationToken: Ct));
        Assert.Contains($"127.0.0.1:{port}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Subscriber_ReceivesMessages_AndResubscribesAfterRestart()
    {
        await using var server = await Hangar.Testing.RedisServer.StartAsync(cancellationToken: Ct);
        var options = RedisOptions.Parse(server.ConnectionString);
        await using var subscriber = await RedisSubscriber.ConnectAsync(options, cancellationToken: Ct);
        await using var publisher = await RedisConnection.ConnectAsync(options, cancellationToken: Ct);
        var received = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await subscriber.SubscribeAsync("signals", (_, payload) => received.Enqueue(Encoding.UTF8.GetString(payload.Span)));

        Assert.Equal(1, await publisher.PublishAsync("signals", "one"));
        var reconnected = new TaskCompletionSource();
        subscriber.Reconnected += () => reconnected.TrySetResult();
        await server.RestartAsync(cancellationToken: Ct);
        await reconnected.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await WaitForAsync(async () => await publisher.PublishAsync("signals", "two") == 1);

        await WaitForAsync(() => Task.FromResult(received.Contains("two")));
        Assert.Equal("one", received.First());
    }

    [Fact]
    public async Task Subscriber_MessageArrivingBetweenTheResubscribesOfAReconnect_IsDeliveredAndNotTakenForAReply()
    {
        await using var proxy = new CuttingProxy(redis.Server.Port);
        await using var subscriber = await RedisSubscriber.ConnectAsync(redis.Options with { Port = proxy.Port }, cancellationToken: Ct);
        await using var publisher = await RedisConnection.ConnectAsync(redis.Options, cancellationToken: Ct);
        var received = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Record(string channel, ReadOnlyMemory<byte> payload) => received.Enqueue($"{channel} {Encoding.UTF8.GetString(payload.Span)}");
        string[] channels = ["resub-a", "resub-b"];
        foreach (var channel in channels)
        {
            await subscriber.SubscribeAsync(channel, Record);
        }

        // The reconnect's handshake subscribes to both channels again in one write. Redis gets it only up to the end
        // of the first SUBSCRIBE until a message has been published to that channel, so the message's push arrives
        // between the two subscribe confirmations.
        proxy.HoldNextAfter(AfterFirstSubscribe);
        proxy.Cut();
        var first = "";
        await WaitForAsync(async () =>
        {
            // One channel with one subscriber: the old connection is gone and the new one is held after its first SUBSCRIBE.
            var counts = await publisher.ExecuteAsync("PUBSUB", "NUMSUB", channels[0], channels[1]);
            first = counts[1].Integer + counts[3].Integer == 1 ? counts[counts[1].Integer == 1 ? 0 : 2].AsString()! : "";
            return first.Length > 0;
        });
        Assert.Equal(1, await publisher.PublishAsync(first, "during the handshake"));
        proxy.Release();

        await subscriber.SubscribeAsync("resub-c", Record).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await WaitForAsync(async () => await publisher.PublishAsync("resub-c", "after") == 1);
        await WaitForAsync(() => Task.FromResult(received.Contains("resub-c after")));

        Assert.Contains($"{first} during the handshake", received);
        Assert.Equal(2, proxy.Accepted);

        static int AfterFirstSubscribe(byte[] sent)
        {
            var command = "SUBSCRIBE\r\n$7\r\nresub-"u8;
            var at = sent.AsSpan().IndexOf(command);
            var end = at + command.Length + "a\r\n".Length;
            return at >= 0 && sent.Length >= end ? end : -1;
        }
    }

    [Fact]
    public void Parse_ReadsAspireConnectionStrings()
    {
        var options = RedisOptions.Parse("cache.internal:6380,password=s3cret,ssl=true,abortConnect=false,defaultDatabase=2");
        Assert.Equal(("cache.internal", 6380, "s3cret", true, 2), (options.Host, options.Port, options.Password, options.Ssl, options.Database));
        Assert.Equal(("::1", 6379), (RedisOptions.Parse("[::1]").Host, RedisOptions.Parse("[::1]").Port));
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not become true within 10 s.");
            await Task.Delay(20, Ct);
        }
    }
}
