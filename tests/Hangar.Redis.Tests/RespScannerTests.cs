using System.Buffers;
using System.Text;

namespace Hangar.Redis.Tests;

public sealed class RespScannerTests
{
    // An XREAD-shaped reply with every kind of value, then a second reply.
    private const string Reply =
        "*3\r\n" +
            "*2\r\n$6\r\nstream\r\n" +
                "*3\r\n" +
                    "*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nk\r\n$7\r\nhe\r\nllo\r\n" +
                    "*2\r\n$3\r\n2-0\r\n*-1\r\n" +
                    "*0\r\n" +
            ":42\r\n" +
            "$-1\r\n";

    private const string Next = "-ERR no\r\n";

    [Fact]
    public void FedOneByteAtATime_CompletesExactlyAtTheReplysLastByte()
    {
        var bytes = Encoding.ASCII.GetBytes(Reply + Next);
        var scanner = new RespScanner();
        for (var length = 0; length < Reply.Length; length++)
        {
            Assert.False(scanner.TryComplete(new ReadOnlySequence<byte>(bytes, 0, length)), $"complete after {length} bytes");
        }

        Assert.True(scanner.TryComplete(new ReadOnlySequence<byte>(bytes, 0, Reply.Length)));
        Assert.False(scanner.Pending);

        Assert.True(scanner.TryComplete(new ReadOnlySequence<byte>(bytes, Reply.Length, Next.Length)));
    }

    [Fact]
    public void SplitAnywhere_AgreesWithTheParser()
    {
        var bytes = Encoding.ASCII.GetBytes(Reply);
        for (var split = 0; split < bytes.Length; split++)
        {
            var scanner = new RespScanner();
            var head = new ReadOnlySequence<byte>(bytes, 0, split);
            var reader = new SequenceReader<byte>(head);
            Assert.Equal(RespParser.TryRead(ref reader, out _), scanner.TryComplete(head));
            Assert.True(scanner.TryComplete(new ReadOnlySequence<byte>(bytes)), $"split at {split}");
        }
    }
}
