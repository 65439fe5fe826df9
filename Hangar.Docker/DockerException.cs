namespace Hangar.Docker;

/// <summary>
/// The engine refused a request (<see cref="StatusCode"/> and the engine's own message), or could not be reached
/// (<see cref="StatusCode"/> 0, with what to do about it).
/// </summary>
public sealed class DockerException : Exception
{
    public DockerException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    public DockerException(int statusCode, string message)
        : base(message) => StatusCode = statusCode;

    public int StatusCode { get; }

    public bool IsNotFound => StatusCode == 404;

    public bool IsConflict => StatusCode == 409;
}
