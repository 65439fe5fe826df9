using Hangar.ApiService.Auth;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Hangar.ApiService.Data;

/// <summary>
/// Before the server takes requests: apply migrations, and on an empty database create the first organisation, its
/// admin user and an API key (printed once), or accept the key given as <c>Hangar:BootstrapApiKey</c>.
/// </summary>
internal sealed partial class DatabaseInitializer(
    Migrator migrator, NpgsqlDataSource db, IOptions<HangarOptions> options, ILogger<DatabaseInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await migrator.MigrateAsync(cancellationToken);
        await BootstrapAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task BootstrapAsync(CancellationToken cancellationToken)
    {
        var configuredKey = options.Value.BootstrapApiKey;
        await using var connection = await db.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand("select pg_advisory_xact_lock(1114599284)", connection))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        Guid? organizationId = null;
        Guid? userId = null;
        await using (var find = new NpgsqlCommand("select o.id, (select u.id from users u where u.organization_id = o.id order by u.created_at limit 1) from organizations o order by o.created_at limit 1", connection))
        await using (var reader = await find.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                organizationId = reader.GetGuid(0);
                userId = reader.IsDBNull(1) ? null : reader.GetGuid(1);
            }
        }

        string? printKey = null;
        if (organizationId is null)
        {
            organizationId = Guid.CreateVersion7();
            userId = Guid.CreateVersion7();
            await using var create = new NpgsqlCommand(
                "insert into organizations (id, name) values (@org, 'Default'); insert into users (id, organization_id, name, role) values (@user, @org, 'admin', 'admin')", connection);
            create.Parameters.AddWithValue("org", organizationId.Value);
            create.Parameters.AddWithValue("user", userId.Value);
            await create.ExecuteNonQueryAsync(cancellationToken);
            if (configuredKey is null)
            {
                printKey = ApiKeys.Generate();
                await InsertKeyAsync(connection, organizationId.Value, userId, printKey, "bootstrap", cancellationToken);
            }
        }

        if (configuredKey is not null)
        {
            await InsertKeyAsync(connection, organizationId.Value, userId, configuredKey, "configured", cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        if (printKey is not null)
        {
            LogBootstrapKey(logger, printKey);
        }
    }

    private static async Task InsertKeyAsync(NpgsqlConnection connection, Guid organizationId, Guid? userId, string key, string name, CancellationToken cancellationToken)
    {
        await using var insert = new NpgsqlCommand(
            "insert into api_keys (id, organization_id, user_id, name, prefix, key_hash) values (@id, @org, @user, @name, @prefix, @hash) on conflict (key_hash) do nothing", connection);
        insert.Parameters.AddWithValue("id", Guid.CreateVersion7());
        insert.Parameters.AddWithValue("org", organizationId);
        insert.Parameters.AddWithValue("user", (object?)userId ?? DBNull.Value);
        insert.Parameters.AddWithValue("name", name);
        insert.Parameters.AddWithValue("prefix", ApiKeys.DisplayPrefix(key));
        insert.Parameters.AddWithValue("hash", ApiKeys.Hash(key));
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "First start: created the Default organisation. Its admin API key, shown only this once: {ApiKey}")]
    private static partial void LogBootstrapKey(ILogger logger, string apiKey);
}
