using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Errors;

/// <summary>
/// Gives every failure the proxy itself produced a status, an <see cref="MeshHeaders.Error"/> reason and a short body,
/// so clients can tell a mesh error from the application's.
/// </summary>
internal sealed class MeshErrorMiddleware(RequestDelegate next, MeshErrorOptions options)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (HttpMethods.IsConnect(context.Request.Method))
        {
            await MeshErrorWriter.WriteAsync(context, StatusCodes.Status501NotImplemented, MeshErrors.NotSupported,
                "CONNECT tunnels are not supported: call services as http://<service>/ and the mesh secures the hop.").ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
        if (context.Response.HasStarted || context.Features.Get<IForwarderErrorFeature>() is not { } error)
        {
            return;
        }

        var target = context.Features.Get<IReverseProxyFeature>()?.Cluster.Config.ClusterId ?? options.UpstreamName;
        var (status, reason, detail) = error.Error switch
        {
            ForwarderError.NoAvailableDestinations => (StatusCodes.Status503ServiceUnavailable, MeshErrors.NoHealthyEndpoint,
                $"service '{target}' has no healthy instance."),
            ForwarderError.Request when error.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } =>
                (StatusCodes.Status503ServiceUnavailable, options.ConnectFailureReason, $"could not connect to {target}: {error.Exception.Message}"),
            ForwarderError.Request => (StatusCodes.Status502BadGateway, MeshErrors.UpstreamUnavailable,
                $"{target} failed before answering: {error.Exception?.Message}"),
            ForwarderError.RequestTimedOut => (StatusCodes.Status504GatewayTimeout, MeshErrors.Timeout, $"{target} did not answer in time."),
            ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled => (499, MeshErrors.UpstreamError, "the client canceled the request."),
            _ => (StatusCodes.Status502BadGateway, MeshErrors.UpstreamError, $"{target} failed: {error.Error}."),
        };
        context.Response.Clear();
        await MeshErrorWriter.WriteAsync(context, status, reason, detail).ConfigureAwait(false);
    }
}

/// <summary>How a listener names its upstream failures.</summary>
public sealed class MeshErrorOptions
{
    /// <summary>The reason for a refused connection: <see cref="MeshErrors.AppUnavailable"/> on a sidecar's inbound side, else <see cref="MeshErrors.UpstreamUnavailable"/>.</summary>
    public string ConnectFailureReason { get; init; } = MeshErrors.UpstreamUnavailable;

    /// <summary>Name used in messages when the request has no cluster (direct forwarding).</summary>
    public string UpstreamName { get; init; } = "the upstream";
}

/// <summary>Writes a mesh error response.</summary>
public static class MeshErrorWriter
{
    /// <summary>Sets the status and <see cref="MeshHeaders.Error"/>, and writes "<c>reason: detail</c>" as the body.</summary>
    public static Task WriteAsync(HttpContext context, int status, string reason, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        context.Response.Headers[MeshHeaders.Error] = reason;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync($"{reason}: {detail}\n");
    }
}
