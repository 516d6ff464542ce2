using System.Globalization;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace AspireMesh.Gateway.Ingress;

/// <summary>
/// Refuses requests over the listener's limits before anything is forwarded: a target longer than allowed (414), headers
/// larger than allowed (431), a declared body larger than allowed (413). A body of undeclared length (chunked) streams
/// until it passes the limit; then forwarding stops, the upstream request is aborted and the client gets 413.
/// </summary>
internal sealed class RequestLimitsMiddleware(RequestDelegate next, IngressOptions options)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        if (target.Length > options.MaxUrlLength)
        {
            await MeshErrorWriter.WriteAsync(context, StatusCodes.Status414UriTooLong, MeshErrors.UriTooLong,
                $"the request target is {target.Length} characters long; this gateway accepts at most {options.MaxUrlLength}.").ConfigureAwait(false);
            return;
        }

        var headerBytes = HeaderBytes(context.Request.Headers);
        if (headerBytes > options.MaxHeaderBytes)
        {
            await MeshErrorWriter.WriteAsync(context, StatusCodes.Status431RequestHeaderFieldsTooLarge, MeshErrors.HeadersTooLarge,
                $"the request headers take {headerBytes} bytes; this gateway accepts at most {options.MaxHeaderBytes}.").ConfigureAwait(false);
            return;
        }

        if (options.MaxBodyBytes is not { } maxBody)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        if (context.Request.ContentLength is { } declared && declared > maxBody)
        {
            // The client may still be sending the body: answer, then close the connection rather than drain it.
            CloseAfter(context);
            await MeshErrorWriter.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, MeshErrors.RequestTooLarge,
                $"the request body is {declared.ToString(CultureInfo.InvariantCulture)} bytes; this gateway accepts at most {maxBody.ToString(CultureInfo.InvariantCulture)}.").ConfigureAwait(false);
            return;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = maxBody;
        }

        await next(context).ConfigureAwait(false);
        if (!context.Response.HasStarted && context.Features.Get<IForwarderErrorFeature>() is { } error && IsBodyTooLarge(error.Exception))
        {
            context.Response.Clear();
            CloseAfter(context);
            await MeshErrorWriter.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, MeshErrors.RequestTooLarge,
                $"the request body passed {maxBody.ToString(CultureInfo.InvariantCulture)} bytes, the most this gateway accepts; it was not delivered.").ConfigureAwait(false);
        }
    }

    /// <summary>Asks for the connection to be closed after the response (HTTP/1.x; HTTP/2 resets the stream instead).</summary>
    internal static void CloseAfter(HttpContext context)
    {
        if (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol))
        {
            context.Response.Headers.Connection = "close";
        }
    }

    /// <summary>Header bytes as an HTTP/1.1 request would carry them: <c>name: value\r\n</c> per value.</summary>
    internal static long HeaderBytes(IHeaderDictionary headers)
    {
        long total = 0;
        foreach (var (name, values) in headers)
        {
            foreach (var value in values)
            {
                total += name.Length + (value?.Length ?? 0) + 4;
            }
        }

        return total;
    }

    private static bool IsBodyTooLarge(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
            {
                return true;
            }
        }

        return false;
    }
}
