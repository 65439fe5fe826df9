using Npgsql;

namespace Hangar.StreamBench;

/// <summary>Median milliseconds of each leg of a turn's way to its first chunk.</summary>
internal sealed record Breakdown(double SendToRunCreated, double RunCreatedToClaimed, double ClaimedToStepStarted, double StepStartedToAgentFirstChunk, double AgentFirstChunkToClient);

/// <summary>
/// Where a turn's time to first chunk goes, from what Hangar stores about each run and step: the API's commit of the
/// message and run, the claim, the step's start, the agent's first chunk at ApiService, and the way through Redis and
/// StreamHub to this client. Every process is on this machine, so their clocks agree.
/// </summary>
internal static class LatencyBreakdown
{
    public static async Task<Breakdown> QueryAsync(string connectionString, Guid chatId, IReadOnlyList<Turn> turns)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            select r.created_at, r.started_at, s.started_at, s.first_chunk_at
            from runs r join steps s on s.run_id = r.id and s.number = 1
            where r.chat_id = @chat order by r.created_at
            """, connection);
        command.Parameters.AddWithValue("chat", chatId);
        var legs = new List<double[]>();
        await using var reader = await command.ExecuteReaderAsync();
        for (var i = 0; await reader.ReadAsync() && i < turns.Count; i++)
        {
            var (created, claimed, started, firstChunk) = (reader.GetDateTime(0), reader.GetDateTime(1), reader.GetDateTime(2), reader.GetDateTime(3));
            var turn = turns[i];
            legs.Add([
                (created - turn.SentUtc.UtcDateTime).TotalMilliseconds,
                (claimed - created).TotalMilliseconds,
                (started - claimed).TotalMilliseconds,
                (firstChunk - started).TotalMilliseconds,
                (turn.FirstChunkUtc.UtcDateTime - firstChunk).TotalMilliseconds,
            ]);
        }

        double Median(int leg) => legs.Select(l => l[leg]).Order().ElementAt(legs.Count / 2);
        return new(Median(0), Median(1), Median(2), Median(3), Median(4));
    }
}
