using Yarp.ReverseProxy.Transforms;

namespace AspireMesh.ProxyEngine.Retries;

/// <summary>
/// When an answer is one to retry (a peer sidecar saying its app is unreachable, or a status the route retries) and
/// another attempt is allowed, drops that answer (its body is not copied) so <see cref="RetryMiddleware"/> can try again.
/// </summary>
internal static class RetryResponseTransform
{
    public static ValueTask ApplyAsync(ResponseTransformContext context)
    {
        if (context.ProxyResponse is not { } response || context.HttpContext.Features.Get<RetryFeature>() is not { CanRetry: true } retry)
        {
            return ValueTask.CompletedTask;
        }

        // A peer sidecar's answer to a gRPC request is 200 with grpc-status, so the reason header decides. Its app never
        // saw the request when it could not reach it, or when the sidecar had no configuration yet.
        var neverReached = response.Headers.TryGetValues(MeshHeaders.Error, out var reasons)
            ? reasons.FirstOrDefault(r => r is MeshErrors.AppUnavailable or MeshErrors.NotConfigured)
            : null;
        if (neverReached is not null || retry.Codes.Contains((int)response.StatusCode))
        {
            retry.Requested = true;
            retry.RequestedReason = neverReached ?? $"status {(int)response.StatusCode}";
            context.SuppressResponseBody = true;
        }

        return ValueTask.CompletedTask;
    }
}
