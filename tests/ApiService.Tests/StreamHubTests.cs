using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Hangar.Contracts;
using Hangar.Redis;

namespace ApiService.Tests;

/// <summary>
/// StreamHub across two replicas: WebSocket and SSE carry the same events; a client resumes on the other replica after
/// the first is killed, with nothing lost or repeated; a position that is no longer buffered gets a reset; a client
/// that stops reading is closed without holding up the others; and the streaming metrics are exported.
/// </summary>
[Collection(nameof(HangarStack))]
public sealed class StreamHubTests(HangarStack stack)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WebSocket_CarriesTheSameEventsAsSse_AndResumesAfterAnId()
    {
        var (_, send) = await stack.StartChatAsync("tool: over a websocket");
        var url = HangarStack.StreamUrl(send);
        var sse = await SseClient.ReadUntilAsync(url, SseClient.RunEnded);

        var frames = await ReadWebSocketAsync(url, sse.Count);
        Assert.Equal(sse.Select(e => (e.Id, e.Type)), frames.Select(f => (f["id"]!.ToString(), f["event"]!.ToString())));
        Assert.All(sse.Zip(frames), pair => Assert.True(JsonNode.DeepEquals(JsonNode.Parse(pair.First.RawData), pair.Second["data"]), pair.First.RawData));

        var resumed = await ReadWebSocketAsync(WithAfter(url, sse[2].Id), sse.Count - 3);
        Assert.Equal(sse.Skip(3).Select(e => e.Id), resumed.Select(f => f["id"]!.ToString()));
    }

    [Fact]
    public async Task KilledStreamHub_ClientResumesOnTheOther_WithNothingLostOrRepeated()
    {
        var (_, send) = await stack.StartChatAsync("slow");
        // The link names StreamHub's proxy; this client reads from the first replica itself, which then dies.
        Assert.StartsWith(stack.StreamHubUrl, HangarStack.StreamUrl(send), StringComparison.Ordinal);
        var victim = stack.Stack.Replicas("streamhub")[0];
        var url = HangarStack.OnHub(victim.Url, HangarStack.StreamUrl(send));
        var received = new List<SseEvent>();
        try
        {
            using var client = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
            using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, Ct);
            await foreach (var e in SseClient.ReadEventsAsync(await response.Content.ReadAsStreamAsync(Ct), Ct))
            {
                received.Add(e);
                if (received.Count(r => r.Type == ChatEvents.MessageChunkAdded) == 20)
                {
                    await stack.Stack.KillAsync(victim, Ct);
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            // The replica died under the stream.
        }

        try
        {
            var other = HangarStack.OnHub(stack.Stack.Replicas("streamhub").Single(r => r != victim).Url, url);
            var rest = await SseClient.ReadUntilAsync(other, SseClient.RunEnded, lastEventId: received[^1].Id);
            var all = received.Concat(rest).ToList();

            Assert.Equal(all.Select(e => e.Id).Distinct().Count(), all.Count);
            Assert.Equal(all.Select(e => e.Id), all.Select(e => e.Id).Order(Comparer<string>.Create(CompareIds)));
            var deltas = all.Where(e => e.Type == ChatEvents.MessageChunkAdded && e.Data["chunk"]!["type"]!.ToString() == "text-delta")
                .Select(e => e.Data["chunk"]!["delta"]!.ToString());
            Assert.Equal(Enumerable.Range(0, 200).Select(i => $"{i} "), deltas);
            Assert.Equal("completed", all[^1].Data["status"]!.ToString());
        }
        finally
        {
            await stack.Stack.StartAsync(victim, Ct);
        }
    }

    [Fact]
    public async Task BurstSharesEntries_AClientResumesInTheMiddleOfOne_OnTheOtherNode()
    {
        var (_, send) = await stack.StartChatAsync("burst 5000");
        var url = HangarStack.StreamUrl(send);
        var all = await SseClient.ReadUntilAsync(url, SseClient.RunEnded);
        Assert.Equal(all.Count, all.Select(e => e.Id).Distinct().Count());
        Assert.Equal(all.Select(e => e.Id), all.Select(e => e.Id).Order(Comparer<string>.Create(CompareIds)));
        var inside = all.Select((e, i) => (e.Id, Index: i)).Where(e => e.Id.Contains('.', StringComparison.Ordinal)).ToList();
        Assert.True(inside.Count > 0, "no entry held more than one chunk of a 5,000-chunk burst");

        var cut = inside[inside.Count / 2];
        var other = HangarStack.OnHub(stack.StreamHubUrls[1], url);
        var sse = await SseClient.ReadUntilAsync(other, SseClient.RunEnded, lastEventId: cut.Id);
        Assert.Equal(all.Skip(cut.Index + 1).Select(e => (e.Id, e.RawData)), sse.Select(e => (e.Id, e.RawData)));
        var frames = await ReadWebSocketAsync(WithAfter(other, cut.Id), all.Count - cut.Index - 1);
        Assert.Equal(all.Skip(cut.Index + 1).Select(e => e.Id), frames.Select(f => f["id"]!.ToString()));
    }

    [Theory]
    [InlineData("yesterday")]
    [InlineData("1732239000000")]
    [InlineData("1732239000000-0.")]
    [InlineData("1732239000000-0.x")]
    [InlineData("1732239000000-0.-1")]
    [InlineData("1732239000000-0.2147483647")]
    public async Task BadResumePosition_Gets400NamingIt(string after)
    {
        var (_, send) = await stack.StartChatAsync("where from");
        using var client = new HttpClient();
        using var response = await client.GetAsync(WithAfter(HangarStack.StreamUrl(send), after), Ct);

        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>(Ct);
        Assert.Contains($"'{after}' is not an event id", problem!["detail"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingTicket_Gets401()
    {
        var (_, send) = await stack.StartChatAsync("who is asking");
        using var client = new HttpClient();
        using var response = await client.GetAsync(new Uri(HangarStack.StreamUrl(send)).GetLeftPart(UriPartial.Path), Ct);

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("stream ticket", (await response.Content.ReadFromJsonAsync<JsonObject>(Ct))!["title"]!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrimmedOrExpiredPosition_GetsAReset_ThenTheStreamGoesOn()
    {
        var (chatId, send) = await stack.StartChatAsync("to be trimmed");
        var url = HangarStack.StreamUrl(send);
        var events = await SseClient.ReadUntilAsync(url, SseClient.RunEnded);
        await using var redis = await RedisConnection.ConnectAsync(RedisOptions.Parse(stack.Stack.RedisConnectionString), cancellationToken: Ct);
        var key = ChatEvents.StreamKey(chatId);

        await redis.ExecuteAsync("XTRIM", key, "MAXLEN", 1);
        var newest = (await redis.ExecuteAsync("XREVRANGE", key, "+", "-", "COUNT", 1))[0][0].AsString()!;
        var trimmed = await SseClient.ReadUntilAsync(url, _ => true, lastEventId: events[0].Id);
        var reset = Assert.Single(trimmed);
        Assert.Equal(ChatEvents.Reset, reset.Type);
        Assert.Equal(newest, reset.Id);
        Assert.Equal(newest, reset.Data["resume_after"]!.ToString());

        // At the newest event: nothing was missed, so no reset.
        var current = SseClient.ReadUntilAsync(url, SseClient.RunEnded, lastEventId: newest);
        (await stack.Api.PostAsJsonAsync($"/api/chats/{chatId}/messages", new { messages = new[] { HangarStack.UserMessage("after the trim") } }, Ct)).EnsureSuccessStatusCode();
        var next = await current;
        Assert.DoesNotContain(next, e => e.Type == ChatEvents.Reset);
        Assert.Equal("completed", next[^1].Data["status"]!.ToString());

        await redis.ExecuteAsync("DEL", key);
        var expired = Assert.Single(await SseClient.ReadUntilAsync(url, _ => true, lastEventId: next[^1].Id));
        Assert.Equal((ChatEvents.Reset, "0-0"), (expired.Type, expired.Id));
    }

    [Fact]
    public async Task ClientThatStopsReading_IsClosed_WhileAnotherGetsEveryEvent()
    {
        var (chatId, send) = await stack.StartChatAsync("burst 100000");
        var url = new Uri(HangarStack.StreamUrl(send));

        // A client that sends its request and never reads: a small receive window, so the server's writes stall.
        using var stalled = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(url.Host, url.Port, Ct);
        await stalled.SendAsync(Encoding.ASCII.GetBytes($"GET {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\n\r\n"), Ct);

        Assert.Equal(100000, await CountDeltasUntilTheRunEndsAsync(url));

        // The stalled client was cut off: reading what reached it ends, short of the whole run.
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        drain.CancelAfter(TimeSpan.FromSeconds(10));
        var buffer = new byte[64 * 1024];
        long total = 0;
        try
        {
            int read;
            while ((read = await stalled.ReceiveAsync(buffer, SocketFlags.None, drain.Token)) > 0)
            {
                total += read;
            }
        }
        catch (SocketException)
        {
            // Reset by the server: closed as well.
        }

        Assert.False(drain.IsCancellationRequested, $"the stalled client of chat {chatId} was not closed; it got {total} bytes");
        Assert.True(total < 100000 * 100, $"the stalled client got {total} bytes");
    }

    [Fact]
    public async Task StreamingMetrics_AreExported()
    {
        var (_, send) = await stack.StartChatAsync("counted");
        await SseClient.ReadUntilAsync(HangarStack.StreamUrl(send), SseClient.RunEnded);

        foreach (var name in (string[])["hangar.streamhub.subscribers", "hangar.streamhub.events.in", "hangar.streamhub.events.out", "hangar.streamhub.reader.lag", "hangar.streamhub.feeds"])
        {
            await HangarStack.WaitForAsync(() => Task.FromResult(
                stack.Otlp.Exports("metrics").Any(e => Encoding.Latin1.GetString(e.Body).Contains(name, StringComparison.Ordinal)) ? name : null));
        }
    }

    private static async Task<List<JsonObject>> ReadWebSocketAsync(string url, int count)
    {
        using var socket = new ClientWebSocket();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await socket.ConnectAsync(new Uri("ws" + url["http".Length..]), timeout.Token);
        var frames = new List<JsonObject>();
        var buffer = new byte[64 * 1024];
        while (frames.Count < count)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, timeout.Token);
                message.Write(buffer, 0, result.Count);
            }
            while (!result.EndOfMessage);

            Assert.Equal(WebSocketMessageType.Text, result.MessageType);
            frames.Add(JsonNode.Parse(message.ToArray())!.AsObject());
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
        return frames;
    }

    /// <summary>
    /// A client that keeps up with a burst: it counts text deltas line by line, parsing nothing. On a loaded machine
    /// even it may fall a queue's length behind and be cut off; it then resumes after the last whole event it got,
    /// as a UI would, so every delta still counts exactly once.
    /// </summary>
    private static async Task<int> CountDeltasUntilTheRunEndsAsync(Uri url)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        using var client = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var deltas = 0;
        string? lastEventId = null;
        for (var resumes = 0; resumes <= 3; resumes++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (lastEventId is not null)
            {
                request.Headers.Add("Last-Event-ID", lastEventId);
            }

            try
            {
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                using var lines = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
                string? eventId = null;
                var eventDeltas = 0;
                var runEvent = false;
                while (await lines.ReadLineAsync(timeout.Token) is { } line)
                {
                    if (line.Length == 0)
                    {
                        // An event is whole at its blank line: only then does it count, and resuming goes on after it.
                        (deltas, lastEventId, eventDeltas) = (deltas + eventDeltas, eventId ?? lastEventId, 0);
                    }
                    else if (line.StartsWith("id: ", StringComparison.Ordinal))
                    {
                        eventId = line["id: ".Length..];
                    }
                    else if (line.StartsWith("event: ", StringComparison.Ordinal))
                    {
                        runEvent = line == "event: " + ChatEvents.RunUpdated;
                    }
                    else if (line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        eventDeltas += line.Contains("\"type\":\"text-delta\"", StringComparison.Ordinal) ? 1 : 0;
                        if (runEvent && line.Contains("\"status\":\"completed\"", StringComparison.Ordinal))
                        {
                            return deltas + eventDeltas;
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && !timeout.IsCancellationRequested)
            {
                TestContext.Current.SendDiagnosticMessage($"The counting client was cut off after {deltas} deltas ({ex.Message}); resuming.");
            }
        }

        throw new InvalidOperationException($"The stream ended after {deltas} deltas, before the run did.");
    }

    private static string WithAfter(string url, string id) =>
        string.Join('&', url.Split('&').Where(p => !p.StartsWith("after=", StringComparison.Ordinal))) + "&after=" + Uri.EscapeDataString(id);

    /// <summary>Event ids in stream order: <c>ms-seq</c> is an entry's last event, <c>ms-seq.i</c> its event i before that.</summary>
    private static int CompareIds(string? left, string? right)
    {
        static (ulong, ulong, ulong) Parse(string id)
        {
            var parts = id.Split('-', '.').Select(ulong.Parse).ToArray();
            return (parts[0], parts[1], parts.Length > 2 ? parts[2] : ulong.MaxValue);
        }

        return Parse(left!).CompareTo(Parse(right!));
    }
}
