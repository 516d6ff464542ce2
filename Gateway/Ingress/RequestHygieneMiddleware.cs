using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace AspireMesh.Gateway.Ingress;

/// <summary>
/// Refuses (400 <see cref="MeshErrors.BadRequest"/>) requests that hosts behind the gateway could read differently
/// than it does: a body framed both by Content-Length and by Transfer-Encoding (request smuggling), and paths that
/// still hold an encoded slash or backslash, a backslash or a NUL after Kestrel decoded them and removed dot segments
/// (a backend that decodes them again could reach a path no route exposes).
/// </summary>
internal sealed class RequestHygieneMiddleware(RequestDelegate next, IngressOptions options)
{
    private const string KestrelMovedContentLength = "X-Content-Length";

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        // Kestrel frames such a request by Transfer-Encoding and renames its Content-Length to X-Content-Length.
        if (request.Headers.ContainsKey(HeaderNames.TransferEncoding)
            && (request.Headers.ContainsKey(HeaderNames.ContentLength) || request.Headers.ContainsKey(KestrelMovedContentLength)))
        {
            RequestLimitsMiddleware.CloseAfter(context);
            return MeshErrorWriter.WriteAsync(context, StatusCodes.Status400BadRequest, MeshErrors.BadRequest,
                "the request has both Content-Length and Transfer-Encoding; send one.");
        }

        var path = request.Path.Value ?? "";
        if (Unsafe(path) is { } why)
        {
            return MeshErrorWriter.WriteAsync(context, StatusCodes.Status400BadRequest, MeshErrors.BadRequest, $"the path {why}.");
        }

        return next(context);
    }

    private string? Unsafe(string path)
    {
        if (path.Contains('\\', StringComparison.Ordinal))
        {
            return "contains a backslash";
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            return "contains a NUL character";
        }

        // Kestrel leaves %2F encoded (it would change the path's segments); everything else arrives decoded.
        if (!options.AllowEncodedSlashes && path.Contains("%2F", StringComparison.OrdinalIgnoreCase))
        {
            return "contains an encoded slash (%2F)";
        }

        return null;
    }
}
