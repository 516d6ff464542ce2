using Yarp.ReverseProxy.Transforms;

namespace AspireMesh.ProxyEngine.Retries;

/// <summary>
/// When a peer sidecar answers that its application is unreachable, and another attempt is allowed, drops that answer
/// (its body is not copied) so <see cref="RetryMiddleware"/> can try another endpoint.
/// </summary>
internal static class RetryResponseTransform
{
    public static ValueTask ApplyAsync(ResponseTransformContext context)
    {
        if (context.ProxyResponse is { StatusCode: System.Net.HttpStatusCode.ServiceUnavailable } response
            && response.Headers.TryGetValues(MeshHeaders.Error, out var reasons)
            && reasons.Contains(MeshErrors.AppUnavailable, StringComparer.Ordinal)
            && context.HttpContext.Features.Get<RetryFeature>() is { CanRetry: true } retry)
        {
            retry.Requested = true;
            context.SuppressResponseBody = true;
        }

        return ValueTask.CompletedTask;
    }
}
