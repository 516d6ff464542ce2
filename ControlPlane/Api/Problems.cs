using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Diagnostics;

namespace AspireMesh.ControlPlane.Api;

/// <summary>Problem-details answers (RFC 9457) with the mesh's error shape.</summary>
internal static class Problems
{
    public static IResult Invalid(string title, IReadOnlyList<ConfigError> errors, int status = StatusCodes.Status400BadRequest) =>
        Problem(new MeshProblem(title, status, string.Join("; ", errors), errors));

    public static IResult NotFound(string detail) => Problem(new MeshProblem("Not found", StatusCodes.Status404NotFound, detail));

    public static IResult Conflict(string detail) => Problem(new MeshProblem("Conflict", StatusCodes.Status409Conflict, detail));

    public static IResult TooLarge(int limit) =>
        Problem(new MeshProblem("Payload too large", StatusCodes.Status413PayloadTooLarge, $"the document is larger than {limit} bytes."));

    public static IResult Problem(MeshProblem problem) =>
        Results.Json(problem, MeshJsonContext.Default.MeshProblem, "application/problem+json", problem.Status);

    /// <summary>Answers a request that failed with an exception: a malformed body is the client's 400, with the parser's reason.</summary>
    public static Task WriteExceptionAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var problem = error is BadHttpRequestException bad
            ? new MeshProblem("Bad request", bad.StatusCode, bad.InnerException is null ? bad.Message : $"{bad.Message} {bad.InnerException.Message}")
            : new MeshProblem("Internal error", StatusCodes.Status500InternalServerError, "The control plane failed to handle the request; see its log.");
        return Problem(problem).ExecuteAsync(context);
    }
}
