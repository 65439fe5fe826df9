using System.Buffers.Binary;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace Hangar.Docker;

/// <summary>
/// The Docker Engine API calls Hangar needs, over one pooled HTTP connection set to the engine. The API version is
/// negotiated once (<see cref="ConnectAsync"/>): the engine's own, capped at the newest this client was written
/// against, and refused when older than the oldest it needs. Errors carry the engine's message.
/// </summary>
public sealed class DockerClient : IDisposable
{
    /// <summary>Oldest API this client uses (Docker 20.10): <c>host-gateway</c>, <c>NanoCpus</c>, filters as JSON.</summary>
    public static readonly Version MinimumApiVersion = new(1, 41);

    /// <summary>Newest API this client was written against; newer engines are spoken to at this version.</summary>
    public static readonly Version MaximumApiVersion = new(1, 47);

    private readonly HttpClient _http;
    private string _prefix = "";

    private DockerClient(DockerEndpoint endpoint)
    {
        Endpoint = endpoint;
        _http = new HttpClient(endpoint.CreateHandler()) { BaseAddress = endpoint.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
    }

    public DockerEndpoint Endpoint { get; }

    /// <summary>The negotiated API version.</summary>
    public Version ApiVersion { get; private set; } = MinimumApiVersion;

    /// <summary>The engine as it described itself when the client connected.</summary>
    public DockerVersion Engine { get; private set; } = null!;

    /// <summary>Connects to the engine and negotiates the API version; throws <see cref="DockerException"/> saying what is wrong.</summary>
    public static async Task<DockerClient> ConnectAsync(DockerEndpoint? endpoint = null, CancellationToken cancellationToken = default)
    {
        var client = new DockerClient(endpoint ?? DockerEndpoint.FromEnvironment());
        try
        {
            using var version = await client.SendAsync(HttpMethod.Get, "/version", null, cancellationToken, versioned: false).ConfigureAwait(false);
            var root = version.RootElement;
            client.Engine = new DockerVersion(
                String(root, "Version"), String(root, "ApiVersion"), String(root, "MinAPIVersion"), String(root, "Os"), String(root, "Arch"));
            var engineApi = Version.Parse(client.Engine.ApiVersion);
            if (engineApi < MinimumApiVersion)
            {
                throw new DockerException($"The Docker engine at {client.Endpoint.Address} speaks API {engineApi}; Hangar needs {MinimumApiVersion} or newer (Docker 20.10).");
            }

            client.ApiVersion = engineApi < MaximumApiVersion ? engineApi : MaximumApiVersion;
            client._prefix = $"/v{client.ApiVersion}";
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public void Dispose() => _http.Dispose();

    public async Task PingAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendRawAsync(HttpMethod.Get, "/_ping", null, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether the engine has the image (by name or id).</summary>
    public async Task<bool> ImageExistsAsync(string image, CancellationToken cancellationToken = default)
    {
        try
        {
            using var _ = await SendAsync(HttpMethod.Get, $"/images/{Uri.EscapeDataString(image)}/json", null, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DockerException ex) when (ex.IsNotFound)
        {
            return false;
        }
    }

    /// <summary>Containers carrying every label in <paramref name="labels"/> (a key alone matches any value), stopped ones too.</summary>
    public async Task<IReadOnlyList<ContainerSummary>> ListContainersAsync(IEnumerable<string> labels, CancellationToken cancellationToken = default)
    {
        var filters = JsonSerializer.Serialize(new Dictionary<string, string[]> { ["label"] = [.. labels] }, DockerJsonContext.Default.DictionaryStringStringArray);
        using var document = await SendAsync(HttpMethod.Get, $"/containers/json?all=true&filters={Uri.EscapeDataString(filters)}", null, cancellationToken).ConfigureAwait(false);
        return [.. document.RootElement.EnumerateArray().Select(c => new ContainerSummary(
            String(c, "Id"),
            c.GetProperty("Names").EnumerateArray().Select(n => n.GetString()!.TrimStart('/')).FirstOrDefault() ?? "",
            String(c, "Image"),
            String(c, "State"),
            Labels(c.GetProperty("Labels")),
            ListedPorts(c)))];
    }

    /// <summary>Creates a container and returns its id. A name in use answers 409 (<see cref="DockerException.IsConflict"/>); a missing image 404.</summary>
    public async Task<string> CreateContainerAsync(string name, ContainerSpec spec, CancellationToken cancellationToken = default)
    {
        using var document = await SendAsync(HttpMethod.Post, $"/containers/create?name={Uri.EscapeDataString(name)}", CreateBody(spec), cancellationToken).ConfigureAwait(false);
        return String(document.RootElement, "Id");
    }

    public async Task StartContainerAsync(string id, CancellationToken cancellationToken = default)
    {
        using var _ = await SendRawAsync(HttpMethod.Post, $"{_prefix}/containers/{id}/start", null, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The container's details, or null when it does not exist.</summary>
    public async Task<ContainerDetails?> InspectContainerAsync(string id, CancellationToken cancellationToken = default)
    {
        try
        {
            using var document = await SendAsync(HttpMethod.Get, $"/containers/{id}/json", null, cancellationToken).ConfigureAwait(false);
            return ReadDetails(document.RootElement);
        }
        catch (DockerException ex) when (ex.IsNotFound)
        {
            return null;
        }
    }

    /// <summary>SIGTERM, then SIGKILL after <paramref name="timeout"/>. Stopping a stopped container is not an error.</summary>
    public async Task StopContainerAsync(string id, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var seconds = (int)Math.Ceiling(timeout.TotalSeconds);
        using var _ = await SendRawAsync(HttpMethod.Post, $"{_prefix}/containers/{id}/stop?t={seconds}", null, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    public async Task KillContainerAsync(string id, string signal = "SIGKILL", CancellationToken cancellationToken = default)
    {
        using var _ = await SendRawAsync(HttpMethod.Post, $"{_prefix}/containers/{id}/kill?signal={signal}", null, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes the container, killing it first when <paramref name="force"/>; a container already gone is not an error.</summary>
    public async Task RemoveContainerAsync(string id, bool force = true, CancellationToken cancellationToken = default)
    {
        try
        {
            using var _ = await SendRawAsync(HttpMethod.Delete, $"{_prefix}/containers/{id}?force={(force ? "true" : "false")}", null, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerException ex) when (ex.IsNotFound)
        {
            // Already removed.
        }
    }

    /// <summary>Whether the engine has the named volume.</summary>
    public async Task<bool> VolumeExistsAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            using var _ = await SendAsync(HttpMethod.Get, $"/volumes/{Uri.EscapeDataString(name)}", null, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (DockerException ex) when (ex.IsNotFound)
        {
            return false;
        }
    }

    /// <summary>Removes a named volume with its data; a volume already gone is not an error, one in use answers 409.</summary>
    public async Task RemoveVolumeAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            using var _ = await SendRawAsync(HttpMethod.Delete, $"{_prefix}/volumes/{Uri.EscapeDataString(name)}", null, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        }
        catch (DockerException ex) when (ex.IsNotFound)
        {
            // Already removed.
        }
    }

    /// <summary>Unpacks a tar archive (plain or gzipped) into <paramref name="path"/> inside the container, streaming it from <paramref name="archive"/>.</summary>
    public async Task PutArchiveAsync(string id, string path, Stream archive, CancellationToken cancellationToken = default)
    {
        var content = new StreamContent(archive);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-tar");
        using var _ = await SendRawAsync(HttpMethod.Put, $"{_prefix}/containers/{id}/archive?path={Uri.EscapeDataString(path)}", content, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The container's output as lines, demultiplexed into stdout and stderr: the last <paramref name="tail"/> lines,
    /// then, with <paramref name="follow"/>, every new line until the container stops or the token is cancelled.
    /// </summary>
    public async IAsyncEnumerable<ContainerLogLine> LogsAsync(
        string id, int tail = 100, bool follow = false, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var query = $"{_prefix}/containers/{id}/logs?stdout=true&stderr=true&tail={tail}&follow={(follow ? "true" : "false")}";
        using var response = await SendRawAsync(HttpMethod.Get, query, null, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var raw = response.Content.Headers.ContentType?.MediaType == "application/vnd.docker.raw-stream";
        var pending = new[] { new StringBuilder(), new StringBuilder() };
        var decoders = new[] { Encoding.UTF8.GetDecoder(), Encoding.UTF8.GetDecoder() };
        var header = new byte[8];
        var buffer = new byte[16 * 1024];
        var characters = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        while (true)
        {
            // Without a TTY the engine frames each write: stream (1 stdout, 2 stderr), three zero bytes, big-endian length.
            var stream = 0;
            var length = int.MaxValue;
            if (!raw)
            {
                if (!await ReadExactlyOrEndAsync(body, header, cancellationToken).ConfigureAwait(false))
                {
                    break;
                }

                stream = header[0] == 2 ? 1 : 0;
                length = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
            }

            var ended = false;
            while (length > 0)
            {
                var read = await body.ReadAsync(buffer.AsMemory(0, Math.Min(length, buffer.Length)), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    ended = true;
                    break;
                }

                length -= read;
                var count = decoders[stream].GetChars(buffer, 0, read, characters, 0);
                pending[stream].Append(characters, 0, count);
                foreach (var line in TakeLines(pending[stream]))
                {
                    yield return new ContainerLogLine(stream == 1, line);
                }

                if (raw)
                {
                    break;
                }
            }

            if (ended)
            {
                break;
            }
        }

        for (var stream = 0; stream < 2; stream++)
        {
            if (pending[stream].Length > 0)
            {
                yield return new ContainerLogLine(stream == 1, pending[stream].ToString());
            }
        }
    }

    /// <summary>Engine events from now on, as they happen, for containers carrying <paramref name="label"/>; ends when the token is cancelled.</summary>
    public async IAsyncEnumerable<DockerEvent> EventsAsync(string label, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var filters = JsonSerializer.Serialize(
            new Dictionary<string, string[]> { ["type"] = ["container"], ["label"] = [label] }, DockerJsonContext.Default.DictionaryStringStringArray);
        using var response = await SendRawAsync(HttpMethod.Get, $"{_prefix}/events?filters={Uri.EscapeDataString(filters)}", null, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var reader = new StreamReader(body, Encoding.UTF8);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            var actor = root.GetProperty("Actor");
            var time = root.TryGetProperty("timeNano", out var nanos) ? DateTimeOffset.UnixEpoch.AddTicks(nanos.GetInt64() / 100) : DateTimeOffset.UtcNow;
            yield return new DockerEvent(String(root, "Type"), String(root, "Action"), String(actor, "ID"), Labels(actor.GetProperty("Attributes")), time);
        }
    }

    private static IEnumerable<string> TakeLines(StringBuilder pending)
    {
        var text = pending.ToString();
        var start = 0;
        for (var newline = text.IndexOf('\n'); newline >= 0; newline = text.IndexOf('\n', start))
        {
            yield return text[start..newline].TrimEnd('\r');
            start = newline + 1;
        }

        pending.Remove(0, start);
    }

    private static async Task<bool> ReadExactlyOrEndAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            filled += read;
        }

        return true;
    }

    private static HttpContent CreateBody(ContainerSpec spec)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("Image", spec.Image);
            if (spec.Command is { } command)
            {
                WriteArray(json, "Cmd", command);
            }

            WriteArray(json, "Env", spec.Environment.Select(e => $"{e.Key}={e.Value}"));
            json.WriteStartObject("Labels");
            foreach (var (key, value) in spec.Labels)
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
            if (spec.WorkingDirectory is { } directory)
            {
                json.WriteString("WorkingDir", directory);
            }

            if (spec.StopTimeoutSeconds is { } stopTimeout)
            {
                json.WriteNumber("StopTimeout", stopTimeout);
            }

            json.WriteStartObject("ExposedPorts");
            foreach (var port in spec.PublishedPorts)
            {
                json.WriteStartObject($"{port}/tcp");
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteStartObject("HostConfig");
            json.WriteString("NetworkMode", spec.NetworkMode);
            if (spec.MemoryBytes is { } memory)
            {
                json.WriteNumber("Memory", memory);
            }

            if (spec.Cpus is { } cpus)
            {
                json.WriteNumber("NanoCpus", (long)(cpus * 1e9));
            }

            json.WriteStartObject("RestartPolicy");
            json.WriteString("Name", spec.RestartPolicy.Name);
            json.WriteNumber("MaximumRetryCount", spec.RestartPolicy.MaximumRetryCount);
            json.WriteEndObject();
            WriteArray(json, "ExtraHosts", spec.ExtraHosts);
            WriteArray(json, "Binds", spec.Volumes.Select(v => $"{v.Key}:{v.Value}"));
            json.WriteStartObject("PortBindings");
            foreach (var port in spec.PublishedPorts)
            {
                json.WriteStartArray($"{port}/tcp");
                json.WriteStartObject();
                json.WriteString("HostIp", spec.PublishHostIp);
                json.WriteString("HostPort", "");
                json.WriteEndObject();
                json.WriteEndArray();
            }

            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }

        var content = new ByteArrayContent(buffer.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    private static void WriteArray(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }

    private static ContainerDetails ReadDetails(JsonElement root)
    {
        var state = root.GetProperty("State");
        var hostPorts = new Dictionary<int, int>();
        if (root.GetProperty("NetworkSettings").TryGetProperty("Ports", out var ports) && ports.ValueKind == JsonValueKind.Object)
        {
            foreach (var port in ports.EnumerateObject())
            {
                if (port.Value.ValueKind == JsonValueKind.Array && port.Value.GetArrayLength() > 0
                    && int.TryParse(port.Name.Split('/')[0], CultureInfo.InvariantCulture, out var containerPort)
                    && int.TryParse(String(port.Value[0], "HostPort"), CultureInfo.InvariantCulture, out var hostPort))
                {
                    hostPorts[containerPort] = hostPort;
                }
            }
        }

        return new ContainerDetails(
            String(root, "Id"),
            String(root, "Name").TrimStart('/'),
            new ContainerState(
                String(state, "Status"), state.GetProperty("Running").GetBoolean(), state.GetProperty("Restarting").GetBoolean(),
                state.GetProperty("OOMKilled").GetBoolean(), state.GetProperty("ExitCode").GetInt32(),
                String(state, "Error") is { Length: > 0 } error ? error : null, Time(state, "StartedAt"), Time(state, "FinishedAt")),
            root.GetProperty("RestartCount").GetInt32(),
            Labels(root.GetProperty("Config").GetProperty("Labels")),
            hostPorts);
    }

    /// <summary>A listing's <c>Ports</c>: <c>[{PrivatePort, PublicPort, Type}]</c>, the public port only when published.</summary>
    private static Dictionary<int, int> ListedPorts(JsonElement container)
    {
        var hostPorts = new Dictionary<int, int>();
        if (container.TryGetProperty("Ports", out var ports) && ports.ValueKind == JsonValueKind.Array)
        {
            foreach (var port in ports.EnumerateArray())
            {
                if (String(port, "Type") == "tcp" && port.TryGetProperty("PublicPort", out var published))
                {
                    hostPorts[port.GetProperty("PrivatePort").GetInt32()] = published.GetInt32();
                }
            }
        }

        return hostPorts;
    }

    private static DateTimeOffset? Time(JsonElement element, string name) =>
        DateTimeOffset.TryParse(String(element, name), CultureInfo.InvariantCulture, out var time) && time.Year > 1 ? time : null;

    private static string String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";

    private static Dictionary<string, string> Labels(JsonElement labels) => labels.ValueKind == JsonValueKind.Object
        ? labels.EnumerateObject().ToDictionary(l => l.Name, l => l.Value.GetString() ?? "", StringComparer.Ordinal)
        : new Dictionary<string, string>(StringComparer.Ordinal);

    private async Task<JsonDocument> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, bool versioned = true)
    {
        using var response = await SendRawAsync(method, versioned ? _prefix + path : path, content, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        return JsonDocument.Parse(body.Length == 0 ? "{}"u8.ToArray() : body);
    }

    /// <summary>Sends a request; a non-success answer becomes a <see cref="DockerException"/> with the engine's message.</summary>
    private async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, HttpContent? content, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.InnerException is DockerException unreachable)
        {
            throw unreachable;
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException socket)
        {
            throw new DockerException(Endpoint.Unreachable(socket), ex);
        }
        catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException tls)
        {
            throw new DockerException(
                $"The TLS handshake with the Docker engine at {Endpoint.Address} failed: its certificate must chain to ca.pem in " +
                $"{Endpoint.CertificateDirectory}, and it must accept cert.pem there ({tls.Message}).", ex);
        }

        if (response.IsSuccessStatusCode || (int)response.StatusCode == 304)
        {
            return response;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            string message;
            try
            {
                using var error = JsonDocument.Parse(text);
                message = String(error.RootElement, "message");
            }
            catch (JsonException)
            {
                message = text.Trim();
            }

            throw new DockerException((int)response.StatusCode, $"Docker engine: {method} {path.Split('?')[0]} answered {(int)response.StatusCode}: {message}");
        }
    }
}
