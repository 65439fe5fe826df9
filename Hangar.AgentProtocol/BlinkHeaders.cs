namespace Hangar.AgentProtocol;

/// <summary>Header names of Blink's agent protocol (shared/protocol/blink/PROTOCOL.md §1).</summary>
public static class BlinkHeaders
{
    public const string InvocationToken = "x-blink-invocation-token";
    public const string RunId = "x-blink-invocation-run-id";
    public const string StepId = "x-blink-invocation-step-id";
    public const string ChatId = "x-blink-invocation-chat-id";

    /// <summary>Set by agents that answer with a provider-native stream instead of the UI message stream.</summary>
    public const string StreamResponseFormat = "x-blink-stream-response-format";

    /// <summary>The default value of <see cref="StreamResponseFormat"/>: the AI SDK UI message stream.</summary>
    public const string UiMessageFormat = "ui-message";
}
