using System.Globalization;

namespace Hangar.Redis;

/// <summary>
/// Where Redis is and how to reach it, parsed from Aspire's <c>ConnectionStrings__redis</c> shape:
/// <c>host:port[,password=…][,ssl=true][,defaultDatabase=N][,connectTimeout=ms]</c>.
/// </summary>
public sealed record RedisOptions
{
    public required string Host { get; init; }

    public int Port { get; init; } = 6379;

    public string? User { get; init; }

    public string? Password { get; init; }

    public bool Ssl { get; init; }

    public int Database { get; init; }

    /// <summary>How long one connect attempt (TCP, TLS and handshake) may take. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Name shown by <c>CLIENT LIST</c>, to tell Hangar's connections apart.</summary>
    public string? ClientName { get; init; }

    public static RedisOptions Parse(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var parts = connectionString.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string host = "localhost";
        var port = 6379;
        string? user = null;
        string? password = null;
        var ssl = false;
        var database = 0;
        var connectTimeout = TimeSpan.FromSeconds(5);
        foreach (var part in parts)
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0)
            {
                (host, port) = ParseEndpoint(part);
                continue;
            }

            var key = part[..eq].Trim();
            var value = part[(eq + 1)..].Trim();
            switch (key.ToLowerInvariant())
            {
                case "password":
                    password = value;
                    break;
                case "user":
                    user = value;
                    break;
                case "ssl":
                    ssl = bool.Parse(value);
                    break;
                case "defaultdatabase":
                    database = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "connecttimeout":
                    connectTimeout = TimeSpan.FromMilliseconds(int.Parse(value, CultureInfo.InvariantCulture));
                    break;
                default:
                    // StackExchange.Redis options that have no meaning here (abortConnect, allowAdmin, …) are accepted and ignored,
                    // so a connection string written for Aspire's Redis integration works unchanged.
                    break;
            }
        }

        return new RedisOptions { Host = host, Port = port, User = user, Password = password, Ssl = ssl, Database = database, ConnectTimeout = connectTimeout };
    }

    private static (string Host, int Port) ParseEndpoint(string endpoint)
    {
        // "[::1]:6379", "host:6379" or "host".
        if (endpoint.StartsWith('['))
        {
            var close = endpoint.IndexOf(']', StringComparison.Ordinal);
            var h = endpoint[1..close];
            return close + 1 < endpoint.Length ? (h, int.Parse(endpoint[(close + 2)..], CultureInfo.InvariantCulture)) : (h, 6379);
        }

        var colon = endpoint.LastIndexOf(':');
        return colon < 0 ? (endpoint, 6379) : (endpoint[..colon], int.Parse(endpoint[(colon + 1)..], CultureInfo.InvariantCulture));
    }
}
