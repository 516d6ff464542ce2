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

        var target = context.Features.Get<IReverseProxyFeature>()?.Cluster.Config.ClusterId
            ?? (context.Features.Get<Egress.EgressRequestFeature>() is { } egress ? $"'{egress.Host}'" : options.UpstreamName);
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
    /// <summary>
    /// Sets the status and <see cref="MeshHeaders.Error"/>, and writes "<c>reason: detail</c>" as the body. A gRPC
    /// request instead gets what gRPC clients understand: a trailers-only answer (200, <c>grpc-status</c> mapped from
    /// the HTTP status as gRPC's HTTP-to-gRPC table does, <c>grpc-message</c> with the reason), with the same
    /// <see cref="MeshHeaders.Error"/>.
    /// </summary>
    public static Task WriteAsync(HttpContext context, int status, string reason, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Headers[MeshHeaders.Error] = reason;
        if (IsGrpc(context.Request))
        {
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = context.Request.ContentType;
            context.Response.Headers["grpc-status"] = GrpcStatus(status, reason);
            context.Response.Headers["grpc-message"] = PercentEncode($"{reason}: {detail}");
            return Task.CompletedTask;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync($"{reason}: {detail}\n");
    }

    private static bool IsGrpc(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase)
        && (type.Length == "application/grpc".Length || type["application/grpc".Length] is '+' or ';');

    /// <summary>gRPC status codes (as text) for a mesh error.</summary>
    private static string GrpcStatus(int status, string reason) => reason switch
    {
        MeshErrors.Timeout => "4", // DEADLINE_EXCEEDED
        _ => status switch
        {
            StatusCodes.Status400BadRequest => "13", // INTERNAL
            StatusCodes.Status401Unauthorized => "16", // UNAUTHENTICATED
            StatusCodes.Status403Forbidden => "7", // PERMISSION_DENIED
            StatusCodes.Status404NotFound or StatusCodes.Status501NotImplemented => "12", // UNIMPLEMENTED
            StatusCodes.Status429TooManyRequests or StatusCodes.Status502BadGateway or StatusCodes.Status503ServiceUnavailable
                or StatusCodes.Status504GatewayTimeout => "14", // UNAVAILABLE
            _ => "2", // UNKNOWN
        },
    };

    /// <summary>grpc-message encoding: printable ASCII except '%' as is, everything else as %XX of its UTF-8 bytes.</summary>
    private static string PercentEncode(string message)
    {
        var builder = new System.Text.StringBuilder(message.Length);
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(message))
        {
            if (b is >= 0x20 and <= 0x7E && b != (byte)'%')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }
}
