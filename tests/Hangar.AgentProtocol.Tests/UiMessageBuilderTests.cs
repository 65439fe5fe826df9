using System.Text;
using System.Text.Json.Nodes;

namespace Hangar.AgentProtocol.Tests;

public sealed class UiMessageBuilderTests
{
    [Fact]
    public async Task TextReply_FoldsToTheMessageBlinkStored()
    {
        var builder = await FoldAsync("03-chat-text.txt");

        Assert.Equal("""[{"type":"step-start"},{"type":"text","text":"echo: hello blink","state":"done"}]""", builder.BuildParts().ToJsonString());
        Assert.Equal(
            """{"usage":{"inputTokens":10,"outputTokens":5,"totalTokens":15},"model":"echo-mock-1","totalUsage":{"inputTokens":10,"outputTokens":5,"totalTokens":15}}""",
            builder.BuildMetadata()!.ToJsonString());
        Assert.Equal("stop", builder.FinishReason);
        Assert.True(builder.Finished);
    }

    [Fact]
    public async Task ToolLoop_BothStepsMatchTheBlinkServersMessages_ByteForByte()
    {
        var expected = Recording.BlinkServerMessagesCreated("15-server-create-chat-stream.txt");
        var first = await FoldAsync("04-chat-tool.txt");
        var second = await FoldAsync("05-chat-tool-loop.txt");

        Assert.Equal(expected[0]["parts"]!.ToJsonString(), first.BuildParts().ToJsonString());
        Assert.Equal(expected[0]["metadata"]!.ToJsonString(), first.BuildMetadata()!.ToJsonString());
        Assert.True(UiMessages.ShouldContinueToolLoop(first.BuildParts()));
        Assert.Equal("tool-calls", first.FinishReason);

        Assert.Equal(expected[1]["parts"]!.ToJsonString(), second.BuildParts().ToJsonString());
        Assert.False(UiMessages.ShouldContinueToolLoop(second.BuildParts()));
    }

    [Fact]
    public async Task HandBuiltStream_TextThenToolInOneStep()
    {
        var builder = await FoldAsync("11-chat-manual-stream.txt");

        Assert.Equal("echo-11111111-2222-4333-8444-555555555555", builder.AgentMessageId);
        var parts = builder.BuildParts();
        Assert.Equal(["step-start", "text", "tool-echo"], parts.Select(p => p!["type"]!.ToString()));
        Assert.Null(builder.BuildMetadata());
    }

    [Fact]
    public void StreamedToolInput_GrowsThenSettles()
    {
        var builder = Apply(
            """{"type":"start-step"}""",
            """{"type":"tool-input-start","toolCallId":"c1","toolName":"search"}""",
            """{"type":"tool-input-delta","toolCallId":"c1","inputTextDelta":"{\"query\":\"hang"}""");
        var streaming = builder.BuildParts()[1]!;
        Assert.Equal("input-streaming", streaming["state"]!.ToString());
        Assert.Equal("""{"query":"hang"}""", streaming["input"]!.ToJsonString());
        Assert.Equal("""{"query":"hang""", streaming["rawInput"]!.ToString());

        Apply(builder, """{"type":"tool-input-available","toolCallId":"c1","toolName":"search","input":{"query":"hangar"}}""");
        Assert.False(UiMessages.ShouldContinueToolLoop(builder.BuildParts()));
        Apply(builder, """{"type":"tool-output-error","toolCallId":"c1","errorText":"no index"}""");

        Assert.Equal(
            """{"type":"tool-search","toolCallId":"c1","state":"output-error","input":{"query":"hangar"},"errorText":"no index"}""",
            builder.BuildParts()[1]!.ToJsonString());
        Assert.True(UiMessages.ShouldContinueToolLoop(builder.BuildParts()));
    }

    [Fact]
    public void DataParts_ReplaceByIdAndSkipTransient()
    {
        var builder = Apply(
            """{"type":"data-progress","id":"p","data":{"pct":10}}""",
            """{"type":"data-progress","id":"p","data":{"pct":90}}""",
            """{"type":"data-toast","data":"hi","transient":true}""",
            """{"type":"source-url","sourceId":"s1","url":"https://example.org","title":"Example"}""",
            """{"type":"file","mediaType":"image/png","url":"data:image/png;base64,AA=="}""");

        Assert.Equal(
            """[{"type":"data-progress","id":"p","data":{"pct":90}},{"type":"source-url","sourceId":"s1","url":"https://example.org","title":"Example"},{"type":"file","mediaType":"image/png","url":"data:image/png;base64,AA=="}]""",
            builder.BuildParts().ToJsonString());
    }

    [Fact]
    public void PendingApproval_EndsTheToolLoop()
    {
        var builder = Apply(
            """{"type":"start-step"}""",
            """{"type":"tool-input-available","toolCallId":"c1","toolName":"deploy","input":{}}""",
            """{"type":"tool-output-available","toolCallId":"c1","output":{"type":"tool-approval","outcome":"pending"}}""");

        Assert.False(UiMessages.ShouldContinueToolLoop(builder.BuildParts()));
    }

    [Fact]
    public void UnfinishedStep_ClosesTextAndFailsWaitingTools()
    {
        var builder = Apply(
            """{"type":"start-step"}""",
            """{"type":"text-start","id":"t"}""",
            """{"type":"text-delta","id":"t","delta":"half"}""",
            """{"type":"tool-input-available","toolCallId":"c1","toolName":"x","input":{}}""");

        Assert.Equal(
            """[{"type":"step-start"},{"type":"text","text":"half","state":"done"},{"type":"tool-x","toolCallId":"c1","state":"output-error","input":{},"errorText":"Interrupted"}]""",
            builder.BuildPartsOfUnfinishedStep("Interrupted").ToJsonString());
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    [InlineData("""{"delta":"x"}""", "no string 'type'")]
    [InlineData("""{"type":"text-delta","id":"nope","delta":"x"}""", "was not started")]
    [InlineData("""{"type":"tool-output-available","toolCallId":"ghost","output":1}""", "before its tool-input-available")]
    public void MalformedChunks_FailWithAReadableReason(string chunk, string reason)
    {
        var error = Assert.Throws<AgentProtocolException>(() => Apply(chunk));
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorChunk_IsRecorded()
    {
        var builder = Apply("""{"type":"start"}""", """{"type":"error","errorText":"model overloaded"}""");
        Assert.Equal("model overloaded", builder.ErrorText);
    }

    [Fact]
    public void RequestBody_CarriesTheHistoryAsTheRecordingShows()
    {
        var expected = JsonNode.Parse(Recording.Text("05-chat-tool-loop.request.json"))!;
        var messages = expected["messages"]!.AsArray().Select(m => new StoredUiMessage(
            m!["id"]!.ToString(), m["role"]!.ToString(), Encoding.UTF8.GetBytes(m["parts"]!.ToJsonString()), null));
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();

        ChatRequestBody.Write(buffer, expected["id"]!.ToString(), messages);

        var written = JsonNode.Parse(buffer.WrittenSpan)!;
        foreach (var message in expected["messages"]!.AsArray())
        {
            message!["metadata"] = null;
        }

        Assert.True(JsonNode.DeepEquals(expected, written), written.ToJsonString());
    }

    private static async Task<UiMessageBuilder> FoldAsync(string recording)
    {
        var builder = new UiMessageBuilder();
        foreach (var chunk in await Recording.ChunksAsync(recording))
        {
            builder.Apply(chunk);
        }

        return builder;
    }

    private static UiMessageBuilder Apply(params string[] chunks) => Apply(new UiMessageBuilder(), chunks);

    private static UiMessageBuilder Apply(UiMessageBuilder builder, params string[] chunks)
    {
        foreach (var chunk in chunks)
        {
            builder.Apply(Encoding.UTF8.GetBytes(chunk));
        }

        return builder;
    }
}
