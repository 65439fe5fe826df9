using Microsoft.Extensions.Configuration;

namespace Hangar.AppHost;

/// <summary>
/// PostgreSQL and Redis for the stack: a server the user names with a connection string, a container of the image
/// <see cref="AppHostSettings.Servers"/> chooses, or the machine's own binaries; always with a password (Aspire
/// generates it on the first run and keeps it).
/// </summary>
internal sealed class BackingServers
{
    public const string LocalPostgresImage = "hangar/postgres";
    public const string LocalRedisImage = "hangar/redis";
    private const string PostgresTag = "15";
    private const string RedisTag = "7";

    private readonly IDistributedApplicationBuilder _builder;
    private readonly AppHostSettings _settings;
    private readonly bool _localImages;
    private readonly bool _binaries;

    private BackingServers(IDistributedApplicationBuilder builder, AppHostSettings settings, bool localImages, string description, bool binaries = false)
    {
        _builder = builder;
        _settings = settings;
        _localImages = localImages;
        _binaries = binaries;
        Description = description;
    }

    /// <summary>What was chosen and why, for the console.</summary>
    public string Description { get; private set; }

    /// <summary>
    /// Chooses: for <c>auto</c> the local images when the engine has both, the binaries when no engine answers and
    /// they are installed, Aspire's official images otherwise. Asking for the local images or the binaries when they
    /// are missing stops here with what to run, rather than leaving every service waiting on a server that cannot start.
    /// </summary>
    public static async Task<BackingServers> ChooseAsync(IDistributedApplicationBuilder builder, AppHostSettings settings)
    {
        var binariesInstalled = ServerBinaries.PostgresInstalled && ServerBinaries.RedisInstalled;
        if (settings.Servers is "binaries" && !builder.ExecutionContext.IsPublishMode)
        {
            return binariesInstalled
                ? new BackingServers(builder, settings, localImages: false, $"PostgreSQL and Redis from this machine's binaries, data in {settings.DataDirectoryFor(builder)}", binaries: true)
                : throw new InvalidOperationException("AppHost:Servers is binaries but PostgreSQL or redis-server is not installed: apt-get install postgresql redis-server.");
        }

        if (settings.Servers is "official-images" || builder.ExecutionContext.IsPublishMode)
        {
            return new BackingServers(builder, settings, localImages: settings.Servers is "local-images", "PostgreSQL and Redis from Aspire's official images");
        }

        using var docker = await LocalDocker.ConnectAsync().ConfigureAwait(false);
        var missing = docker is null ? "no Docker engine answers" : null;
        foreach (var image in (string[])[$"{LocalPostgresImage}:{PostgresTag}", $"{LocalRedisImage}:{RedisTag}"])
        {
            if (missing is null && !await LocalDocker.HasImageAsync(docker!, image).ConfigureAwait(false))
            {
                missing = $"the Docker engine has no image {image}";
            }
        }

        if (missing is null)
        {
            return new BackingServers(builder, settings, localImages: true, $"PostgreSQL and Redis from the local images {LocalPostgresImage}:{PostgresTag} and {LocalRedisImage}:{RedisTag}");
        }

        return settings.Servers is "local-images"
            ? throw new InvalidOperationException($"AppHost:Servers is local-images but {missing}: run scripts/prerequisites.sh (it builds them with scripts/build-backing-images.sh).")
            : docker is null && binariesInstalled
            ? new BackingServers(builder, settings, localImages: false, $"PostgreSQL and Redis from this machine's binaries, data in {settings.DataDirectoryFor(builder)} (auto: {missing})", binaries: true)
            : new BackingServers(builder, settings, localImages: false, $"PostgreSQL and Redis from Aspire's official images (auto: {missing})");
    }

    /// <summary>The <paramref name="databaseName"/> database of a PostgreSQL server named <paramref name="name"/>.</summary>
    public IResourceBuilder<IResourceWithConnectionString> AddPostgres(string name, string databaseName)
    {
        if (_builder.Configuration.GetConnectionString(name) is not null)
        {
            Description += $"; PostgreSQL: ConnectionStrings:{name}";
            return _builder.AddConnectionString(name);
        }

        if (_binaries)
        {
            return _builder.AddPostgresBinaries(name, databaseName, Path.Combine(_settings.DataDirectoryFor(_builder), name), _settings.FastUnsafePostgres);
        }

        var server = _builder.AddPostgres(name);
        if (_localImages)
        {
            server.WithImage(LocalPostgresImage, PostgresTag).WithImageRegistry(null).WithImagePullPolicy(ImagePullPolicy.Never);
        }

        if (_settings.DataVolumes)
        {
            server.WithDataVolume(VolumeName(name));
        }

        if (_settings.FastUnsafePostgres)
        {
            server.WithArgs("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
        }

        return server.AddDatabase(databaseName);
    }

    private string? VolumeName(string resource) => _settings.DataVolumePrefix is { } prefix ? $"{prefix}-{resource}-data" : null;

    /// <summary>A Redis server named <paramref name="name"/>, saving to its volume when data is kept.</summary>
    public IResourceBuilder<IResourceWithConnectionString> AddRedis(string name)
    {
        if (_builder.Configuration.GetConnectionString(name) is not null)
        {
            Description += $"; Redis: ConnectionStrings:{name}";
            return _builder.AddConnectionString(name);
        }

        if (_binaries)
        {
            return _builder.AddRedisBinaries(name, Path.Combine(_settings.DataDirectoryFor(_builder), name), persist: _settings.DataVolumes);
        }

        var redis = _builder.AddRedis(name);
        if (_localImages)
        {
            redis.WithImage(LocalRedisImage, RedisTag).WithImageRegistry(null).WithImagePullPolicy(ImagePullPolicy.Never);
        }

        if (_settings.DataVolumes)
        {
            redis.WithDataVolume(VolumeName(name)).WithPersistence();
        }

        return redis;
    }
}
