using Hangar.ApiService.Auth;
using Hangar.ApiService.Http;
using Microsoft.Extensions.Options;

namespace Hangar.ApiService.Telemetry;

/// <summary>
/// OTLP/HTTP ingest for agents (<c>/api/otlp/v1/traces</c>, <c>/api/otlp/v1/logs</c>), with a deployment or invocation
/// token. Both encodings, optionally gzipped. A request is read whole and parsed before anything is stored: too
/// large is 413, unreadable is 400, and either way nothing is written.
/// </summary>
public static class OtlpIngestApi
{
    private const string Protobuf = "application/x-protobuf";
    private const string Json = "application/json";

    public static RouteGroupBuilder MapOtlpIngest(this IEndpointRouteBuilder app)
    {
        var otlp = app.MapGroup("/api/otlp/v1").WithTags("Telemetry")
            .RequireAuthorization(policy => policy.AddAuthenticationSchemes(AgentTokenAuthenticationHandler.SchemeName).RequireAuthenticatedUser());
        otlp.MapPost("/traces", IngestTraces);
        otlp.MapPost("/logs", IngestLogs);
        return otlp;
    }

    internal static Task<IResult> IngestTraces(HttpContext context, TelemetryStore store, IOptions<TelemetryOptions> options, CancellationToken ct) =>
        IngestAsync(context, options.Value, OtlpProtobuf.ReadTraces, OtlpJson.ReadTraces, (caller, spans) => store.WriteSpansAsync(caller, spans, ct), ct);

    internal static Task<IResult> IngestLogs(HttpContext context, TelemetryStore store, IOptions<TelemetryOptions> options, CancellationToken ct) =>
        IngestAsync(context, options.Value, OtlpProtobuf.ReadLogs, OtlpJson.ReadLogs, (caller, logs) => store.WriteLogsAsync(caller, logs, ct), ct);

    private delegate List<T> ProtobufReader<T>(ReadOnlySpan<byte> payload);

    private static async Task<IResult> IngestAsync<T>(
        HttpContext context, TelemetryOptions options, ProtobufReader<T> fromProtobuf, Func<ReadOnlyMemory<byte>, List<T>> fromJson,
        Func<AgentCaller, List<T>, Task> write, CancellationToken ct)
    {
        var mediaType = context.Request.ContentType?.Split(';', 2)[0].Trim().ToLowerInvariant();
        if (mediaType is not (Protobuf or Json))
        {
            return TypedResults.Problem(
                title: "Unsupported content type.", detail: $"Send OTLP as '{Protobuf}' or '{Json}'; got '{context.Request.ContentType}'.",
                statusCode: StatusCodes.Status415UnsupportedMediaType);
        }

        ReadOnlyMemory<byte>? payload;
        try
        {
            payload = await RequestBodies.ReadBoundedAsync(context.Request, options.MaxRequestBytes, ct);
        }
        catch (InvalidDataException ex)
        {
            return TypedResults.Problem(title: "The OTLP payload cannot be read.", detail: "The gzip stream is corrupt: " + ex.Message, statusCode: StatusCodes.Status400BadRequest);
        }

        if (payload is null)
        {
            return TypedResults.Problem(
                title: "The payload is too large.", detail: $"OTLP requests are at most {options.MaxRequestBytes} bytes (after decompression); send smaller batches.",
                statusCode: StatusCodes.Status413PayloadTooLarge);
        }

        List<T> records;
        try
        {
            records = mediaType == Protobuf ? fromProtobuf(payload.Value.Span) : fromJson(payload.Value);
        }
        catch (OtlpFormatException ex)
        {
            return TypedResults.Problem(title: "The OTLP payload cannot be read.", detail: ex.Message, statusCode: StatusCodes.Status400BadRequest);
        }

        await write(AgentCaller.From(context.User), records);

        // An empty Export…ServiceResponse: full success.
        return mediaType == Protobuf ? TypedResults.Bytes([], Protobuf) : TypedResults.Text("{}", Json);
    }
}
