using System.Text.Json;
using Hangar.ApiService.Data;
using Hangar.ApiService.Runs;
using Npgsql;

namespace Hangar.ApiService.Chats;

/// <summary>Reads chats, messages, runs and steps; every read is scoped to an organisation.</summary>
internal static class ChatStore
{
    public const string ChatColumns = "id, organization_id, agent_id, title, status, error, created_at, updated_at";
    public const string MessageColumns = "id, chat_id, role, parts::text, metadata::text, run_id, step_id, created_at";
    public const string RunColumns = "id, chat_id, number, status, error, step_count, usage::text, created_at, started_at, completed_at, trace_id";
    public const string StepColumns = "id, run_id, chat_id, number, status, error, message_id, finish_reason, usage::text, chunk_count, started_at, first_chunk_at, completed_at";

    /// <summary>How many columns <see cref="RunColumns"/> selects, for rows that carry a run and then more.</summary>
    public static readonly int RunColumnCount = RunColumns.Split(',').Length;

    /// <summary>How many columns <see cref="StepColumns"/> selects.</summary>
    public static readonly int StepColumnCount = StepColumns.Split(',').Length;

    public static Chat ReadChat(NpgsqlDataReader r) => ReadChat(r, 0);

    public static Chat ReadChat(NpgsqlDataReader r, int offset) =>
        new(r.GetGuid(offset), r.GetGuid(offset + 1), r.GetGuid(offset + 2), r.GetStringOrNull(offset + 3), r.GetString(offset + 4),
            r.GetStringOrNull(offset + 5), r.GetTime(offset + 6), r.GetTime(offset + 7));

    public static Message ReadMessage(NpgsqlDataReader r, int offset = 0) =>
        new(r.GetString(offset), r.GetGuid(offset + 1), r.GetString(offset + 2), r.GetJsonOrNull(offset + 3)!.Value, r.GetJsonOrNull(offset + 4),
            r.GetGuidOrNull(offset + 5), r.GetGuidOrNull(offset + 6), r.GetTime(offset + 7));

    public static Run ReadRun(NpgsqlDataReader r) =>
        new(r.GetGuid(0), r.GetGuid(1), r.GetInt32(2), r.GetString(3), r.GetStringOrNull(4), r.GetInt32(5), r.GetJsonOrNull(6),
            r.GetTime(7), r.GetTimeOrNull(8), r.GetTimeOrNull(9), r.GetStringOrNull(10));

    public static Step ReadStep(NpgsqlDataReader r) =>
        new(r.GetGuid(0), r.GetGuid(1), r.GetGuid(2), r.GetInt32(3), r.GetString(4), r.GetStringOrNull(5), r.GetStringOrNull(6), r.GetStringOrNull(7),
            r.GetJsonOrNull(8), r.GetInt32(9), r.GetTime(10), r.GetTimeOrNull(11), r.GetTimeOrNull(12));

    public static async Task<List<T>> ListAsync<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> read, CancellationToken ct)
    {
        var items = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            items.Add(read(reader));
        }

        return items;
    }

    public static async Task<T?> SingleAsync<T>(NpgsqlCommand command, Func<NpgsqlDataReader, T> read, CancellationToken ct)
        where T : class
    {
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? read(reader) : null;
    }

    public static async Task<Chat?> GetChatAsync(NpgsqlDataSource db, Guid organizationId, Guid chatId, CancellationToken ct)
    {
        await using var command = db.CreateCommand($"select {ChatColumns} from chats where id = @id and organization_id = @org").With("id", chatId).With("org", organizationId);
        return await SingleAsync(command, ReadChat, ct);
    }

    public static string Json(JsonElement element) => element.GetRawText();
}
