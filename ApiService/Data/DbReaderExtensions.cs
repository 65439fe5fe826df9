using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Hangar.ApiService.Data;

internal static class DbReaderExtensions
{
    public static string? GetStringOrNull(this NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static Guid? GetGuidOrNull(this NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetGuid(ordinal);

    public static DateTimeOffset? GetTimeOrNull(this NpgsqlDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<DateTimeOffset>(ordinal);

    public static DateTimeOffset GetTime(this NpgsqlDataReader reader, int ordinal) => reader.GetFieldValue<DateTimeOffset>(ordinal);

    /// <summary>A jsonb column as a detached <see cref="JsonElement"/>, or null.</summary>
    public static JsonElement? GetJsonOrNull(this NpgsqlDataReader reader, int ordinal)
    {
        if (reader.IsDBNull(ordinal))
        {
            return null;
        }

        using var document = JsonDocument.Parse(reader.GetString(ordinal));
        return document.RootElement.Clone();
    }

    /// <summary>
    /// Has PostgreSQL plan the batch's statements once per prepared statement (generic plans) instead of on every
    /// execution. The control loop's statements are keyed by ids, and planning their CTEs took longer than running
    /// them: 0.5 ms each, twice on the way to a reply's first chunk. Statements elsewhere keep custom plans, which
    /// optional filters need. Call it on a new batch: the setting is its first statement and ends with its transaction.
    /// </summary>
    public static NpgsqlBatch PlannedOnce(this NpgsqlBatch batch)
    {
        batch.BatchCommands.Add(new NpgsqlBatchCommand("set local plan_cache_mode = force_generic_plan"));
        return batch;
    }

    public static NpgsqlCommand With(this NpgsqlCommand command, string name, object? value)
    {
        command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    public static NpgsqlBatchCommand With(this NpgsqlBatchCommand command, string name, object? value)
    {
        command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    /// <summary>A bytea parameter whose value may be null.</summary>
    public static NpgsqlCommand WithBytes(this NpgsqlCommand command, string name, byte[]? value)
    {
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlDbType.Bytea) { Value = (object?)value ?? DBNull.Value });
        return command;
    }

    /// <summary>A jsonb parameter (for containment filters); null is SQL null.</summary>
    public static NpgsqlCommand WithJsonb(this NpgsqlCommand command, string name, string? json)
    {
        command.Parameters.Add(new NpgsqlParameter(name, NpgsqlTypes.NpgsqlDbType.Jsonb) { Value = (object?)json ?? DBNull.Value });
        return command;
    }

    /// <summary>Binds raw JSON text to a json parameter; the text is kept as it is (jsonb columns convert it on insert).</summary>
    public static NpgsqlCommand WithJson(this NpgsqlCommand command, string name, string? json)
    {
        command.Parameters.Add(JsonParameter(name, json));
        return command;
    }

    /// <inheritdoc cref="WithJson(NpgsqlCommand, string, string?)"/>
    public static NpgsqlBatchCommand WithJson(this NpgsqlBatchCommand command, string name, string? json)
    {
        command.Parameters.Add(JsonParameter(name, json));
        return command;
    }

    private static NpgsqlParameter JsonParameter(string name, string? json) => new(name, NpgsqlDbType.Json) { Value = (object?)json ?? DBNull.Value };
}
