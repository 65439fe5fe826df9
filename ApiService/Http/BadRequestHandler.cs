using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Hangar.ApiService.Http;

/// <summary>
/// Turns a body that is not valid JSON, or not the right shape, into a 400 problem that names where it broke
/// (<c>$.messages[0].parts</c>) instead of an empty 400.
/// </summary>
internal sealed class BadRequestHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException badRequest)
        {
            return false;
        }

        var json = badRequest.InnerException as JsonException;
        context.Response.StatusCode = badRequest.StatusCode;
        var problem = new ProblemDetails
        {
            Status = badRequest.StatusCode,
            Title = json is null ? "The request is not valid." : "The request body is not valid JSON for this endpoint.",
            Detail = json is null ? badRequest.Message : $"At {json.Path ?? "$"}: {json.Message}",
        };
        if (json?.Path is { } path)
        {
            problem.Extensions["errors"] = new Dictionary<string, string[]> { [path] = [json.Message] };
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }
}
