namespace Hangar.Contracts;

/// <summary>
/// The chat event stream: one Redis stream per chat, entries with fields <c>type</c> and <c>data</c> (JSON). The
/// Redis entry id is the event id clients see and resume from (ARCHITECTURE.md, "Contracts between processes").
/// </summary>
public static class ChatEvents
{
    public const string ChatUpdated = "chat.updated";
    public const string MessageCreated = "message.created";
    public const string MessageUpdated = "message.updated";
    public const string MessageChunkAdded = "message.chunk.added";
    public const string RunUpdated = "run.updated";
    public const string StepUpdated = "step.updated";

    /// <summary>
    /// Reload the chat from the API, then continue after this event. StreamHub sends it when the asked-for position is
    /// no longer buffered; ApiService appends it when Redis lost events of the chat.
    /// </summary>
    public const string Reset = "reset";

    public const string TypeField = "type";
    public const string DataField = "data";

    public static string StreamKey(Guid chatId) => $"hangar:chat:{chatId}";
}
