namespace Hangar.Redis;

/// <summary>Redis could not be reached, or the connection broke before the reply arrived.</summary>
public sealed class RedisConnectionException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Redis answered the command with an error reply (<c>-ERR …</c>).</summary>
public sealed class RedisServerException(string message) : Exception(message);
