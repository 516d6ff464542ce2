using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;

namespace AspireMesh.Gateway.Ingress;

/// <summary>Answers every plain-HTTP request with 308 to the same URL on the gateway's HTTPS port (method and body kept).</summary>
internal sealed class HttpsRedirectMiddleware(RequestDelegate next, int httpsPort)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.IsHttps)
        {
            return next(context);
        }

        // HostString.Host keeps an IPv6 address in brackets; an HTTP/1.0 request without Host gets the address it reached.
        var host = context.Request.Host.HasValue ? context.Request.Host.Host
            : context.Connection.LocalIpAddress is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } v6 ? $"[{v6}]"
            : context.Connection.LocalIpAddress?.ToString() ?? "localhost";
        var authority = new HostString(httpsPort == 443 ? host : $"{host}:{httpsPort}");

        context.Response.StatusCode = StatusCodes.Status308PermanentRedirect;
        context.Response.Headers.Location = UriHelper.BuildAbsolute("https", authority, context.Request.PathBase, context.Request.Path, context.Request.QueryString);
        return Task.CompletedTask;
    }
}
