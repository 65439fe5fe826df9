namespace Hangar.Contracts;

/// <summary>
/// The chat event stream: one Redis stream per chat. An entry holds one event, fields <c>type</c> and <c>data</c>
/// (JSON), or, when an agent streams faster than Redis answers, up to <see cref="MaxEventsPerEntry"/> events as
/// repeated <c>type</c>, <c>data</c> pairs, so that a burst of chunks costs Redis a few appends instead of one
/// each. The event id clients see and resume from is the entry id for an entry's last event and
/// <c>{entry id}.{index}</c> (from 0) for the ones before it (ARCHITECTURE.md, "Contracts between processes").
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

    /// <summary>Events one stream entry holds at most; StreamHub's queue bounds count on it.</summary>
    public const int MaxEventsPerEntry = 16;

    public static string StreamKey(Guid chatId) => $"hangar:chat:{chatId}";
}
