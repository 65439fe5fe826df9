using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace Hangar.Docker;

/// <summary>
/// Where the Docker engine listens and how to reach it: a Unix socket (<c>unix:///var/run/docker.sock</c>, the
/// default), or TCP (<c>tcp://host:2376</c>), with TLS when <c>DOCKER_TLS_VERIFY</c> is set, using the client
/// certificate and CA in <c>DOCKER_CERT_PATH</c> (<c>cert.pem</c>, <c>key.pem</c>, <c>ca.pem</c>), as the docker CLI does.
/// </summary>
public sealed record DockerEndpoint(Uri Address, string? CertificateDirectory = null)
{
    public const string DefaultSocket = "unix:///var/run/docker.sock";

    public bool IsUnixSocket => Address.Scheme == "unix";

    public bool UsesTls => CertificateDirectory is not null;

    /// <summary>From <c>DOCKER_HOST</c>, <c>DOCKER_TLS_VERIFY</c> and <c>DOCKER_CERT_PATH</c>, or <paramref name="host"/> when given.</summary>
    public static DockerEndpoint FromEnvironment(string? host = null)
    {
        host ??= Environment.GetEnvironmentVariable("DOCKER_HOST");
        var address = new Uri(string.IsNullOrWhiteSpace(host) ? DefaultSocket : host);
        if (address.Scheme is not ("unix" or "tcp"))
        {
            throw new DockerException($"DOCKER_HOST '{host}' is not supported: use unix:///path/to/docker.sock or tcp://host:port.");
        }

        var tls = Environment.GetEnvironmentVariable("DOCKER_TLS_VERIFY") is { Length: > 0 } verify && verify != "0";
        var certificates = Environment.GetEnvironmentVariable("DOCKER_CERT_PATH") is { Length: > 0 } path
            ? path
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker");
        return new DockerEndpoint(address, address.Scheme == "tcp" && tls ? certificates : null);
    }

    /// <summary>The base address HTTP requests are written against; for a socket the host name is only a placeholder.</summary>
    internal Uri BaseAddress => IsUnixSocket
        ? new Uri("http://docker.sock/")
        : new UriBuilder(UsesTls ? "https" : "http", Address.Host, Address.Port).Uri;

    internal SocketsHttpHandler CreateHandler()
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AutomaticDecompression = System.Net.DecompressionMethods.None,
        };
        if (IsUnixSocket)
        {
            var path = Address.LocalPath;
            handler.ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (SocketException ex)
                {
                    socket.Dispose();
                    throw new DockerException(Unreachable(ex), ex);
                }
            };
        }
        else if (UsesTls)
        {
            var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(CertificateDirectory!, "cert.pem"), Path.Combine(CertificateDirectory!, "key.pem"));
            var authority = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(CertificateDirectory!, "ca.pem"));
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificates = [certificate],
                RemoteCertificateValidationCallback = (_, serverCertificate, _, errors) =>
                    serverCertificate is not null && ChainsTo(serverCertificate, authority, errors),
            };
        }

        return handler;
    }

    internal string Unreachable(SocketException ex) => ex.SocketErrorCode switch
    {
        _ when IsUnixSocket && !File.Exists(Address.LocalPath) =>
            $"No Docker engine at {Address}: the socket does not exist. Start dockerd, or set DOCKER_HOST.",
        SocketError.AccessDenied => $"Permission denied on {Address}: run as a user in the 'docker' group, or as root.",
        _ => $"The Docker engine at {Address} does not answer ({ex.SocketErrorCode}): is dockerd running?",
    };

    /// <summary>The engine's certificate must chain to the configured CA alone (the name is not checked: engines are addressed by IP).</summary>
    private static bool ChainsTo(X509Certificate serverCertificate, X509Certificate2 authority, SslPolicyErrors errors)
    {
        if ((errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var certificate = new X509Certificate2(serverCertificate);
        return chain.Build(certificate);
    }
}
