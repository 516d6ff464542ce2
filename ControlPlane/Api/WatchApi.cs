using AspireMesh.Contracts;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.Security;
using AspireMesh.ControlPlane.Snapshots;
using AspireMesh.ControlPlane.State;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// GET /v1/watch/{kind}/{name}?proxy=&amp;version=: a long poll. Answers at once with a snapshot when the mesh state
/// differs from the version the proxy holds, otherwise as soon as it changes, or 304 when the wait runs out or the
/// control plane begins to stop (the proxy keeps serving what it has and asks again once the control plane is back).
/// Changes are pushed to the proxy this way; nothing is looked up per request.
/// </summary>
internal static class WatchApi
{
    public static IEndpointRouteBuilder MapWatchApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/watch/{kind}/{name}", async (string kind, string name, string? proxy, long? version, MeshStateStore store,
            ProxyRegistry proxies, RegistrationGuard guard, HttpContext context, IOptions<ControlPlaneOptions> options) =>
        {
            if (kind is not (ProxyKinds.Sidecar or ProxyKinds.Gateway))
            {
                return Problems.NotFound($"'{kind}' is not a proxy kind; use '{ProxyKinds.Sidecar}' or '{ProxyKinds.Gateway}'.");
            }

            var proxyId = string.IsNullOrWhiteSpace(proxy) ? $"{kind}/{name}" : proxy;
            if (guard.CheckWatch(context, proxyId, kind, name) is { } refusal)
            {
                return refusal.AsProblem();
            }

            proxies.Watching(proxyId, kind, name, +1);
            try
            {
                MeshState? state;
                using (var waiting = OpenEndedRequest.Until(context))
                {
                    try
                    {
                        state = await store.WaitForChangeAsync(version ?? 0, options.Value.WatchTimeout, waiting.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (OpenEndedRequest.Stopping(context))
                    {
                        state = null;
                    }
                }

                if (state is null)
                {
                    return Results.StatusCode(StatusCodes.Status304NotModified);
                }

                var snapshot = kind == ProxyKinds.Gateway ? SnapshotGenerator.ForGateway(state, name) : SnapshotGenerator.ForSidecar(state, name);
                return Results.Json(snapshot, MeshJsonContext.Default.ProxySnapshot);
            }
            finally
            {
                proxies.Watching(proxyId, kind, name, -1);
            }
        });

        return endpoints;
    }
}
