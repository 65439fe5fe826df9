using System.Buffers.Text;
using System.Text;
using Hangar.ApiService.Auth;
using Hangar.ApiService.Data;
using Npgsql;

namespace Hangar.ApiService.AgentApi;

/// <summary>One entry of a listing: the value as text, as the Blink SDK reads it.</summary>
public sealed record KvEntry(
    [property: System.Text.Json.Serialization.JsonPropertyName("key")] string Key,
    [property: System.Text.Json.Serialization.JsonPropertyName("value")] string Value);

/// <summary>The agent's key-value store: one per agent and deployment target, keys and values kept exactly as sent.</summary>
internal sealed class AgentStore(NpgsqlDataSource db)
{
    /// <summary>Largest value, in bytes: Blink's limit, so agents written for it behave the same.</summary>
    public const int MaxValueBytes = 20_000;

    /// <summary>Longest key, in characters (the Blink SDK's limit).</summary>
    public const int MaxKeyLength = 475;

    public const int DefaultListLimit = 100;
    public const int MaxListLimit = 1000;

    public async Task<byte[]?> GetAsync(AgentCaller caller, string key, CancellationToken ct)
    {
        await using var command = db.CreateCommand(
            "select value from agent_kv where agent_id = @agent and target = @target and key = @key and (expires_at is null or expires_at > now())")
            .With("agent", caller.AgentId).With("target", caller.Target).With("key", key);
        return (byte[]?)await command.ExecuteScalarAsync(ct);
    }

    public async Task SetAsync(AgentCaller caller, string key, byte[] value, TimeSpan? ttl, CancellationToken ct)
    {
        await using var command = db.CreateCommand("""
            insert into agent_kv (agent_id, target, key, value, expires_at) values (@agent, @target, @key, @value, now() + @ttl)
            on conflict (agent_id, target, key) do update set value = excluded.value, expires_at = excluded.expires_at, updated_at = now()
            """).With("agent", caller.AgentId).With("target", caller.Target).With("key", key).With("value", value).With("ttl", (object?)ttl ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(ct);
    }

    public async Task DeleteAsync(AgentCaller caller, string key, CancellationToken ct)
    {
        await using var command = db.CreateCommand("delete from agent_kv where agent_id = @agent and target = @target and key = @key")
            .With("agent", caller.AgentId).With("target", caller.Target).With("key", key);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Keys in byte order from after the cursor; the next cursor is given when more may follow.</summary>
    public async Task<(List<KvEntry> Entries, string? Cursor)> ListAsync(AgentCaller caller, string prefix, int limit, string? after, CancellationToken ct)
    {
        // "key >= prefix" starts the walk of the primary key at the prefix; starts_with keeps it inside.
        await using var command = db.CreateCommand("""
            select key, value from agent_kv
            where agent_id = @agent and target = @target and key >= @prefix and starts_with(key, @prefix)
              and (@after::text is null or key > @after) and (expires_at is null or expires_at > now())
            order by key limit @limit
            """).With("agent", caller.AgentId).With("target", caller.Target).With("prefix", prefix).With("after", (object?)after ?? DBNull.Value).With("limit", limit + 1);
        var entries = new List<KvEntry>(Math.Min(limit, 256));
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            entries.Add(new KvEntry(reader.GetString(0), Encoding.UTF8.GetString((byte[])reader[1])));
        }

        if (entries.Count <= limit)
        {
            return (entries, null);
        }

        entries.RemoveAt(limit);
        return (entries, EncodeCursor(entries[^1].Key));
    }

    public static string EncodeCursor(string key) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(key));

    public static bool TryDecodeCursor(string? cursor, out string? key)
    {
        key = null;
        if (string.IsNullOrEmpty(cursor))
        {
            return true;
        }

        var bytes = new byte[Base64Url.GetMaxDecodedLength(cursor.Length)];
        if (Base64Url.DecodeFromChars(cursor, bytes, out _, out var written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }

        key = Encoding.UTF8.GetString(bytes, 0, written);
        return true;
    }
}
