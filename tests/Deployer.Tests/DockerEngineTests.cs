using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hangar.Deployer.Runtimes;

namespace Deployer.Tests;

/// <summary>
/// How the Deployer reaches the Docker engine: over <c>tcp://</c> with TLS, as <c>DOCKER_TLS_VERIFY</c> and
/// <c>DOCKER_CERT_PATH</c> set it up (the real engine behind a TLS front that, like dockerd with <c>--tlsverify</c>,
/// demands a client certificate from its CA), and what it says when there is no engine.
/// </summary>
public sealed class DockerEngineTests : IDisposable
{
    private readonly string _certificates = Directory.CreateTempSubdirectory("hangar-docker-tls-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_certificates, recursive: true);

    [Fact]
    public async Task Tcp_WithClientCertificate_ReachesTheEngine()
    {
        using var authority = Authority("hangar test CA");
        await using var front = TlsEngineFront.Start(Issue(authority, "engine", server: true), authority);
        WriteClientFiles(authority, Issue(authority, "client", server: false));

        var engine = await DockerEngine.ConnectAsync($"tcp://127.0.0.1:{front.Port}", _certificates, Ct);
        using var docker = engine.Client;
        await docker.System.PingAsync(Ct);

        Assert.True(Version.Parse(engine.Version.APIVersion) >= DockerEngine.MinimumApiVersion);
        Assert.All(front.RequestsFrom, subject => Assert.Equal("CN=client", subject));
        Assert.NotEmpty(front.RequestsFrom);
    }

    [Fact]
    public async Task Tcp_WithAnEngineFromAnotherAuthority_IsRefusedReadably()
    {
        using var authority = Authority("hangar test CA");
        using var stranger = Authority("someone else's CA");
        await using var front = TlsEngineFront.Start(Issue(stranger, "engine", server: true), authority);
        WriteClientFiles(authority, Issue(authority, "client", server: false));

        var error = await Assert.ThrowsAsync<DockerUnavailableException>(() => DockerEngine.ConnectAsync($"tcp://127.0.0.1:{front.Port}", _certificates, Ct));

        Assert.Contains($"The TLS handshake with the Docker engine at tcp://127.0.0.1:{front.Port}/ failed", error.Message, StringComparison.Ordinal);
        Assert.Empty(front.RequestsFrom);
    }

    [Fact]
    public async Task NoEngine_SaysWhereItLookedAndWhatToDo()
    {
        var missing = await Assert.ThrowsAsync<DockerUnavailableException>(() => DockerEngine.ConnectAsync("unix:///tmp/no-such-docker.sock", null, Ct));
        Assert.Equal("No Docker engine at unix:///tmp/no-such-docker.sock: the socket does not exist. Start dockerd, or set DOCKER_HOST.", missing.Message);

        var ssh = await Assert.ThrowsAsync<DockerUnavailableException>(() => DockerEngine.ConnectAsync("ssh://somewhere", null, Ct));
        Assert.Contains("ssh://somewhere", ssh.Message, StringComparison.Ordinal);
    }

    private void WriteClientFiles(X509Certificate2 authority, X509Certificate2 client)
    {
        File.WriteAllText(Path.Combine(_certificates, "ca.pem"), authority.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_certificates, "cert.pem"), client.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_certificates, "key.pem"), client.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
    }

    private static X509Certificate2 Authority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
    }

    private static X509Certificate2 Issue(X509Certificate2 authority, string name, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        using var issued = request.Create(authority, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(50), RandomNumberGenerator.GetBytes(8));
        // The PFX round trip gives a key that SslStream can use on Linux.
        return X509CertificateLoader.LoadPkcs12(issued.CopyWithPrivateKey(key).Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>TLS on a loopback port in front of the engine's Unix socket; only clients with a certificate from the CA get through.</summary>
    private sealed class TlsEngineFront : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly X509Certificate2 _certificate;
        private readonly X509Certificate2 _authority;
        private Task _accepting = Task.CompletedTask;

        private TlsEngineFront(X509Certificate2 certificate, X509Certificate2 authority) => (_certificate, _authority) = (certificate, authority);

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        /// <summary>The certificate subject of every connection that sent a request.</summary>
        public List<string> RequestsFrom { get; } = [];

        public static TlsEngineFront Start(X509Certificate2 certificate, X509Certificate2 authority)
        {
            var front = new TlsEngineFront(certificate, authority);
            front._listener.Start();
            front._accepting = front.AcceptAsync();
            return front;
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                _ = ServeAsync(client);
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                await using var tls = new SslStream(client.GetStream());
                try
                {
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = _certificate,
                        ClientCertificateRequired = true,
                        RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && IssuedByAuthority(certificate),
                    }, _stop.Token);
                }
                catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException)
                {
                    return;
                }

                // A client that distrusts the engine may still finish the handshake (TLS 1.3), but must send no request.
                var first = new byte[16 * 1024];
                int read;
                try
                {
                    read = await tls.ReadAsync(first, _stop.Token);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException)
                {
                    return;
                }

                if (read == 0)
                {
                    return;
                }

                lock (RequestsFrom)
                {
                    RequestsFrom.Add(tls.RemoteCertificate!.Subject);
                }

                using var engine = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await engine.ConnectAsync(new UnixDomainSocketEndPoint("/var/run/docker.sock"), _stop.Token);
                await using var engineStream = new NetworkStream(engine);
                await engineStream.WriteAsync(first.AsMemory(0, read), _stop.Token);
                await Task.WhenAny(tls.CopyToAsync(engineStream, _stop.Token), engineStream.CopyToAsync(tls, _stop.Token));
            }
        }

        private bool IssuedByAuthority(X509Certificate certificate)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_authority);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var presented = new X509Certificate2(certificate);
            return chain.Build(presented);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
