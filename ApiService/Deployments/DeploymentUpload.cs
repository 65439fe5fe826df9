using System.Text;
using System.Text.Json;
using Hangar.ApiService.Agents;
using Hangar.ApiService.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Hangar.ApiService.Deployments;

/// <summary>
/// What a create-deployment request asks for, read from any of its three forms: JSON (an external URL, or the
/// bundle as a list of files), <c>multipart/form-data</c> (a <c>bundle</c> file part plus the fields as parts), or
/// a raw tar, tar.gz or zip body with the fields in the query string. Problems are collected per field.
/// </summary>
internal sealed class DeploymentUpload
{
    private const int MaxFieldBytes = 1024 * 1024;

    public string? Runtime { get; private set; }

    public string? Target { get; private set; }

    public string? Url { get; private set; }

    public string? Entrypoint { get; private set; }

    public bool? Activate { get; private set; }

    /// <summary>The per-deployment environment overrides, checked; null when none were given.</summary>
    public Dictionary<string, string>? Environment { get; private set; }

    public Bundle? Bundle { get; private set; }

    public Validation Problems { get; } = new();

    public static async Task<DeploymentUpload> ReadAsync(HttpRequest request, BundleLimits limits, CancellationToken ct)
    {
        var upload = new DeploymentUpload();
        var mediaType = MediaTypeHeaderValue.TryParse(request.ContentType, out var parsed) ? parsed.MediaType.Value : null;
        switch (mediaType)
        {
            case "application/json":
                await upload.ReadJsonAsync(request, limits, ct);
                break;
            case "multipart/form-data":
                await upload.ReadMultipartAsync(request, parsed!, limits, ct);
                break;
            case "application/x-tar" or "application/gzip" or "application/x-gzip" or "application/zip" or "application/octet-stream":
                upload.ReadFields(name => request.Query[name].ToString() is { Length: > 0 } value ? value : null);
                upload.ReadArchive(await RequestBodies.ReadBoundedAsync(request.Body, limits.MaxUploadBytes, ct), limits);
                break;
            default:
                upload.Problems.Add("content_type", "Send JSON, multipart/form-data with a 'bundle' file, or a tar, tar.gz or zip body (application/x-tar, application/gzip, application/zip).");
                break;
        }

        return upload;
    }

    private async Task ReadJsonAsync(HttpRequest request, BundleLimits limits, CancellationToken ct)
    {
        // Base64 file contents take a third more room than the bundle.
        var body = await RequestBodies.ReadBoundedAsync(request.Body, (limits.MaxUploadBytes * 4 / 3) + MaxFieldBytes, ct);
        if (body is null)
        {
            Problems.Add("bundle", $"The request is larger than the {limits.MaxUploadBytes} bytes a bundle upload may be.");
            return;
        }

        CreateDeploymentRequest? json;
        try
        {
            json = JsonSerializer.Deserialize(body.Value.Span, ApiJsonContext.Default.CreateDeploymentRequest);
        }
        catch (JsonException ex)
        {
            Problems.Add(ex.Path ?? "$", $"The request body is not valid JSON for this endpoint: {ex.Message}");
            return;
        }

        if (json is null)
        {
            Problems.Add("$", "A JSON object is required.");
            return;
        }

        (Runtime, Target, Url, Entrypoint, Activate) = (json.Runtime, json.Target, json.Url, json.Entrypoint, json.Activate);
        if (json.Environment is { } environment)
        {
            ReadEnvironment(environment);
        }

        if (json.Files is { } files)
        {
            ReadFiles(files, limits);
        }
    }

    private async Task ReadMultipartAsync(HttpRequest request, MediaTypeHeaderValue contentType, BundleLimits limits, CancellationToken ct)
    {
        var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
        {
            Problems.Add("content_type", "multipart/form-data needs a boundary.");
            return;
        }

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = new MultipartReader(boundary, request.Body) { BodyLengthLimit = limits.MaxUploadBytes + MaxFieldBytes };
        try
        {
            while (await reader.ReadNextSectionAsync(ct) is { } section)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || disposition.Name.Value is not { } name)
                {
                    continue;
                }

                name = HeaderUtilities.RemoveQuotes(name).Value!;
                if (name == "bundle")
                {
                    ReadArchive(await RequestBodies.ReadBoundedAsync(section.Body, limits.MaxUploadBytes, ct), limits);
                }
                else if (await RequestBodies.ReadBoundedAsync(section.Body, MaxFieldBytes, ct) is { } value)
                {
                    fields[name] = Encoding.UTF8.GetString(value.Span);
                }
                else
                {
                    Problems.Add(name, $"At most {MaxFieldBytes} bytes.");
                }
            }
        }
        catch (InvalidDataException ex)
        {
            Problems.Add("bundle", $"The multipart body is not valid: {ex.Message}");
            return;
        }

        ReadFields(name => fields.GetValueOrDefault(name));
        if (fields.TryGetValue("environment", out var environment))
        {
            try
            {
                using var document = JsonDocument.Parse(environment);
                ReadEnvironment(document.RootElement);
            }
            catch (JsonException ex)
            {
                Problems.Add("environment", $"Must be a JSON object of names to string values: {ex.Message}");
            }
        }

        if (Bundle is null && Problems.IsValid)
        {
            Problems.Add("bundle", "A 'bundle' part with a tar, tar.gz or zip archive is required.");
        }
    }

    private void ReadFields(Func<string, string?> field)
    {
        Runtime = field("runtime");
        Target = field("target");
        Url = field("url");
        Entrypoint = field("entrypoint");
        if (field("activate") is { } activate)
        {
            Activate = bool.TryParse(activate, out var value) ? value : null;
            Problems.Require(Activate is not null, "activate", "Must be 'true' or 'false'.");
        }
    }

    private void ReadArchive(ReadOnlyMemory<byte>? archive, BundleLimits limits)
    {
        if (archive is null)
        {
            Problems.Add("bundle", $"The archive is larger than {limits.MaxUploadBytes} bytes, the most an upload may be.");
            return;
        }

        try
        {
            Bundle = Bundle.FromArchive(archive.Value, limits);
        }
        catch (BundleException ex)
        {
            Problems.Add("bundle", ex.Message);
        }
    }

    private void ReadFiles(List<BundleFileRequest> files, BundleLimits limits)
    {
        var read = new List<BundleFile>(files.Count);
        for (var i = 0; i < files.Count; i++)
        {
            var file = files[i];
            var field = $"files[{i}]";
            if (string.IsNullOrEmpty(file.Path) || new[] { file.Content, file.ContentBase64, file.LinkTarget }.Count(c => c is not null) != 1)
            {
                Problems.Add(field, "Each file needs a 'path' and one of 'content' (text), 'content_base64' or 'link_target'.");
                continue;
            }

            byte[] content = [];
            if (file.ContentBase64 is not null && !TryFromBase64(file.ContentBase64, out content))
            {
                Problems.Add($"{field}.content_base64", "Not valid base64.");
                continue;
            }

            read.Add(new BundleFile(file.Path, file.Executable ?? false, file.Content is null ? content : Encoding.UTF8.GetBytes(file.Content), file.LinkTarget));
        }

        if (!Problems.IsValid)
        {
            return;
        }

        try
        {
            Bundle = Bundle.FromFiles(read, limits);
        }
        catch (BundleException ex)
        {
            Problems.Add("files", ex.Message);
        }
    }

    private void ReadEnvironment(JsonElement environment)
    {
        if (environment.ValueKind != JsonValueKind.Object)
        {
            Problems.Add("environment", "Must be an object of names to string values.");
            return;
        }

        Environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in environment.EnumerateObject())
        {
            var field = $"environment.{variable.Name}";
            if (AgentEnvironmentApi.NameProblem(variable.Name) is { } problem)
            {
                Problems.Add(field, problem);
            }
            else if (variable.Value.ValueKind != JsonValueKind.String)
            {
                Problems.Add(field, "Must be a string.");
            }
            else if (Encoding.UTF8.GetByteCount(variable.Value.GetString()!) > AgentEnvironmentApi.MaxValueBytes)
            {
                Problems.Add(field, $"At most {AgentEnvironmentApi.MaxValueBytes} bytes.");
            }
            else
            {
                Environment[variable.Name] = variable.Value.GetString()!;
            }
        }

        Problems.Require(Environment.Count <= AgentEnvironmentApi.MaxVariables, "environment", $"At most {AgentEnvironmentApi.MaxVariables} variables.");
    }

    private static bool TryFromBase64(string text, out byte[] bytes)
    {
        try
        {
            bytes = Convert.FromBase64String(text);
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
