using System.Net.Sockets;
using System.Security.Authentication;
using Docker.DotNet;
using Docker.DotNet.Models;
using Docker.DotNet.X509;

namespace Hangar.Deployer.Runtimes;

/// <summary>
/// The Docker engine the Deployer drives, reached as the docker CLI reaches it: <c>Deployer:Docker:Host</c>, else
/// <c>DOCKER_HOST</c>, else the current Docker context, else <c>unix:///var/run/docker.sock</c>; over TCP with TLS when
/// <c>DOCKER_TLS_VERIFY</c> is set, with the client certificate and the CA in <c>DOCKER_CERT_PATH</c>
/// (<c>cert.pem</c>, <c>key.pem</c>, <c>ca.pem</c>; default <c>~/.docker</c>). The engine's certificate must chain to
/// that CA.
/// </summary>
public sealed record DockerEngine(DockerClient Client, VersionResponse Version)
{
    /// <summary>Oldest API Hangar uses (Docker 20.10): <c>host-gateway</c>, <c>NanoCpus</c>.</summary>
    public static readonly System.Version MinimumApiVersion = new(1, 41);

    public Uri Address => Client.Options.Endpoint;

    /// <summary>
    /// Where the client certificate and the CA are when <c>DOCKER_TLS_VERIFY</c> asks for TLS: <c>DOCKER_CERT_PATH</c>,
    /// else <c>~/.docker</c>; null without TLS.
    /// </summary>
    public static string? TlsDirectoryFromEnvironment() =>
        Environment.GetEnvironmentVariable("DOCKER_TLS_VERIFY") is { Length: > 0 } verify && verify != "0"
            ? Environment.GetEnvironmentVariable("DOCKER_CERT_PATH") is { Length: > 0 } path
                ? path
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker")
            : null;

    /// <summary>
    /// Connects to <paramref name="host"/> (null: the docker CLI's choice), with TLS from the certificates in
    /// <paramref name="tlsDirectory"/> when given, and asks the engine for its version; throws
    /// <see cref="DockerUnavailableException"/> saying what is wrong.
    /// </summary>
    public static async Task<DockerEngine> ConnectAsync(string? host, string? tlsDirectory, CancellationToken cancellationToken = default)
    {
        var builder = new DockerClientBuilder();
        if (!string.IsNullOrWhiteSpace(host))
        {
            builder.WithEndpoint(Uri.TryCreate(host, UriKind.Absolute, out var address)
                ? address
                : throw new DockerUnavailableException($"The Docker host '{host}' is not a URL: use unix:///path/to/docker.sock or tcp://host:port."));
        }

        if (tlsDirectory is not null)
        {
            builder.WithAuthProvider(DockerTlsCertificates.LoadFromDirectory(tlsDirectory).CreateCredentials());
        }

        DockerClient client;
        try
        {
            client = builder.Build();
        }
        catch (Exception ex) when (ex is DockerConfigurationException or SshDockerEndpointNotSupportedException or NotSupportedException or InvalidOperationException)
        {
            throw new DockerUnavailableException($"The Docker host {host ?? "of DOCKER_HOST or the Docker context"} is not usable: {ex.Message}", ex);
        }

        try
        {
            var version = await client.System.GetVersionAsync(cancellationToken).ConfigureAwait(false);
            if (System.Version.Parse(version.APIVersion) < MinimumApiVersion)
            {
                throw new DockerUnavailableException($"The Docker engine at {client.Options.Endpoint} speaks API {version.APIVersion}; Hangar needs {MinimumApiVersion} or newer (Docker 20.10).");
            }

            return new DockerEngine(client, version);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or SocketException or AuthenticationException or DockerApiException)
        {
            client.Dispose();
            throw new DockerUnavailableException(Unreachable(client.Options.Endpoint, ex), ex);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private static string Unreachable(Uri address, Exception error)
    {
        var socketError = (error as SocketException ?? error.InnerException as SocketException)?.SocketErrorCode;
        return (address.Scheme, socketError) switch
        {
            ("unix", _) when !File.Exists(address.LocalPath) => $"No Docker engine at {address}: the socket does not exist. Start dockerd, or set DOCKER_HOST.",
            (_, SocketError.AccessDenied) => $"Permission denied on {address}: run as a user in the 'docker' group, or as root.",
            (_, { } code) => $"The Docker engine at {address} does not answer ({code}): is dockerd running?",
            _ when error.GetBaseException() is AuthenticationException tls =>
                $"The TLS handshake with the Docker engine at {address} failed: {tls.Message} Check DOCKER_CERT_PATH.",
            _ => $"The Docker engine at {address} did not answer: {error.Message}",
        };
    }
}

/// <summary>No Docker engine can be used: the message says why.</summary>
public sealed class DockerUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
