using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Diagnostics;

namespace AspireMesh.ControlPlane.Api;

/// <summary>Problem-details answers (RFC 9457) with the mesh's error shape.</summary>
internal static class Problems
{
    public static IResult Invalid(string title, IReadOnlyList<ConfigError> errors) =>
        Results.Json(new MeshProblem(title, StatusCodes.Status400BadRequest, string.Join("; ", errors), errors),
            MeshJsonContext.Default.MeshProblem, "application/problem+json", StatusCodes.Status400BadRequest);

    public static IResult NotFound(string detail) =>
        Results.Json(new MeshProblem("Not found", StatusCodes.Status404NotFound, detail),
            MeshJsonContext.Default.MeshProblem, "application/problem+json", StatusCodes.Status404NotFound);

    /// <summary>Answers a request that failed with an exception: a malformed body is the client's 400, with the parser's reason.</summary>
    public static Task WriteExceptionAsync(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var problem = error is BadHttpRequestException bad
            ? new MeshProblem("Bad request", bad.StatusCode, bad.InnerException is null ? bad.Message : $"{bad.Message} {bad.InnerException.Message}")
            : new MeshProblem("Internal error", StatusCodes.Status500InternalServerError, "The control plane failed to handle the request; see its log.");
        context.Response.StatusCode = problem.Status;
        return Results.Json(problem, MeshJsonContext.Default.MeshProblem, "application/problem+json", problem.Status).ExecuteAsync(context);
    }
}
