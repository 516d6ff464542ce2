using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Retries;

/// <summary>
/// Sends a request again, to an endpoint not yet tried, when the one picked failed before the request reached an
/// application: the connection was refused or broke before an answer, or the peer sidecar answered
/// <see cref="MeshErrors.AppUnavailable"/>. Only requests without a body are retried, so nothing is sent twice.
/// Runs in YARP's proxy pipeline, before load balancing, so each attempt is balanced among the endpoints left.
/// </summary>
internal sealed class RetryMiddleware(RequestDelegate next, ProxyEngineOptions options, ILogger<RetryMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var candidates = proxy.AvailableDestinations;
        if (candidates.Count < 2 || options.MaxAttempts < 2 || !IsReplayable(context))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var remaining = candidates.ToList();
        var retry = new RetryFeature();
        context.Features.Set(retry);
        for (var attempt = 1; ; attempt++)
        {
            retry.CanRetry = attempt < options.MaxAttempts && remaining.Count > 1;
            retry.Requested = false;
            proxy.AvailableDestinations = remaining;
            await next(context).ConfigureAwait(false);

            var reason = retry.Requested ? MeshErrors.AppUnavailable : TransportFailure(context);
            if (reason is null || !retry.CanRetry || context.Response.HasStarted || proxy.ProxiedDestination is not { } failed)
            {
                return;
            }

            remaining.Remove(failed);
            ProxyEngineLog.Retrying(logger, context.Request.Method, context.Request.Path, proxy.Cluster.Config.ClusterId, failed.DestinationId, reason);
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.Clear();
        }
    }

    private static bool IsReplayable(HttpContext context) =>
        context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false };

    /// <summary>Why the last attempt failed at the transport, or null if it did not (an answer, even an error, is final).</summary>
    private static string? TransportFailure(HttpContext context)
    {
        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is not { Error: ForwarderError.Request })
        {
            return null;
        }

        return error.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError } ? "connect failure" : "transport failure";
    }
}

/// <summary>Per-request retry state shared between <see cref="RetryMiddleware"/> and the response transform.</summary>
internal sealed class RetryFeature
{
    /// <summary>Whether another attempt is allowed after the current one.</summary>
    public bool CanRetry { get; set; }

    /// <summary>Set by the response transform when the answer asks for a retry elsewhere.</summary>
    public bool Requested { get; set; }
}
