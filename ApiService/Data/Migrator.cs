using Npgsql;

namespace Hangar.ApiService.Data;

/// <summary>
/// Applies the SQL files under Data/Migrations in name order, each once, inside a transaction that holds a
/// transaction-scoped advisory lock: replicas that start together take turns, and the later ones find nothing to do.
/// </summary>
internal sealed partial class Migrator(NpgsqlDataSource dataSource, ILogger<Migrator> logger)
{
    private const long AdvisoryLockKey = 0x48616e676172; // "Hangar"

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await Execute(connection, "select pg_advisory_xact_lock(@key)", cancellationToken, ("key", AdvisoryLockKey));
        await Execute(connection, "create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())", cancellationToken);

        var applied = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand("select name from schema_migrations", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                applied.Add(reader.GetString(0));
            }
        }

        foreach (var (name, sql) in Scripts().Where(s => !applied.Contains(s.Name)))
        {
            await Execute(connection, sql, cancellationToken);
            await Execute(connection, "insert into schema_migrations (name) values (@name)", cancellationToken, ("name", name));
            LogApplied(logger, name);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static IEnumerable<(string Name, string Sql)> Scripts()
    {
        var assembly = typeof(Migrator).Assembly;
        const string prefix = "Hangar.ApiService.Data.Migrations.";
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            yield return (resource[prefix.Length..], reader.ReadToEnd());
        }
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Name}")]
    private static partial void LogApplied(ILogger logger, string name);
}
