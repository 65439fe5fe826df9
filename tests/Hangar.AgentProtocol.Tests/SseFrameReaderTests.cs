using System.Text;

namespace Hangar.AgentProtocol.Tests;

public sealed class SseFrameReaderTests
{
    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(1)]
    [InlineData(7)]
    public async Task RecordedReply_YieldsEveryChunk_HoweverTheBytesArrive(int readSize)
    {
        var chunks = await Recording.ChunksAsync("03-chat-text.txt", readSize);

        Assert.Equal(10, chunks.Count);
        Assert.Equal("""{"type":"start"}""", Encoding.UTF8.GetString(chunks[0]));
        Assert.Equal("""{"type":"text-delta","id":"t1","delta":"hello "}""", Encoding.UTF8.GetString(chunks[4]));
    }

    [Fact]
    public async Task Framing_FollowsTheSseRules()
    {
        const string wire = ": a comment\r\nevent: ignored\r\ndata: {\"a\":\r\ndata:1}\r\n\r\nid: 7\rdata:x\r\rdata: last";
        var events = new List<string>();
        await foreach (var data in SseFrameReader.ReadEventsAsync(new TrickleStream(Encoding.UTF8.GetBytes(wire), 3), TestContext.Current.CancellationToken))
        {
            events.Add(Encoding.UTF8.GetString(data));
        }

        Assert.Equal(["{\"a\":\n1}", "x", "last"], events);
    }
}
