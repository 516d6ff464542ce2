using System.Globalization;
using System.Threading.RateLimiting;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Errors;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// Applies a route's policies before load balancing: the rate limit (429 with Retry-After), fault injection (abort
/// or delay a share of requests), a redirect (answered here), mirroring, and the traffic split between weighted backends.
/// </summary>
internal sealed class RoutePolicyMiddleware(RequestDelegate next, RouteTable routes, IProxyStateLookup state, RequestMirror mirror, MeshRandom random, TimeProvider time)
{
    public Task InvokeAsync(HttpContext context)
    {
        // A route with nothing to do here passes straight on (no state machine allocated for it).
        var proxy = context.GetReverseProxyFeature();
        return routes.Find(proxy.Route.Config.RouteId) is { } policy && HasWork(policy) ? ApplyAsync(context, proxy, policy) : next(context);
    }

    private static bool HasWork(RoutePolicy policy) =>
        policy.Limiter is not null || policy.Fault is not null || policy.Redirect is not null || policy.Mirrors.Count > 0 || policy.Split is not null;

    private async Task ApplyAsync(HttpContext context, IReverseProxyFeature proxy, RoutePolicy policy)
    {
        if (policy.Limiter is { } limiter)
        {
            using var lease = limiter.Acquire(context);
            if (!lease.IsAcquired)
            {
                var wait = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                await MeshErrorWriter.WriteAsync(context, StatusCodes.Status429TooManyRequests, MeshErrors.RateLimited,
                    $"rate limit '{limiter.Policy.Name}' allows {limiter.Policy.Requests} requests per {limiter.Policy.Period}{(limiter.Policy.Per == "Source" ? " per client" : "")}.").ConfigureAwait(false);
                return;
            }
        }

        if (policy.Fault is { } fault)
        {
            if (fault.Abort is { } abort && random.NextDouble() * 100 < abort.Percentage)
            {
                await MeshErrorWriter.WriteAsync(context, abort.HttpStatus, MeshErrors.FaultInjected,
                    $"route '{policy.Route.Name}' injects this fault into {abort.Percentage}% of requests.").ConfigureAwait(false);
                return;
            }

            if (fault.Delay is { } delay && random.NextDouble() * 100 < delay.Percentage)
            {
                await Task.Delay(policy.Delay, time, context.RequestAborted).ConfigureAwait(false);
            }
        }

        if (policy.Redirect is { } redirect)
        {
            context.Response.StatusCode = redirect.StatusCode;
            context.Response.Headers.Location = Location(context.Request, redirect, policy.Route.Path);
            return;
        }

        foreach (var copy in policy.Mirrors)
        {
            await mirror.MirrorAsync(context, copy).ConfigureAwait(false);
        }

        if (policy.Split is not null)
        {
            var cluster = policy.PickBackend(random.NextDouble());
            if (cluster != proxy.Cluster?.Config.ClusterId && state.TryGetCluster(cluster, out var chosen))
            {
                context.ReassignProxyRequest(chosen);
            }
        }

        await next(context).ConfigureAwait(false);
    }

    private static string Location(HttpRequest request, RequestRedirect redirect, PathMatchSnapshot? match)
    {
        var scheme = redirect.Scheme ?? request.Scheme;
        var port = redirect.Port ?? (redirect.Scheme is null ? request.Host.Port : null);
        var defaultPort = scheme == "https" ? 443 : 80;
        var host = redirect.Hostname ?? request.Host.Host;
        var authority = port is { } p && p != defaultPort ? $"{host}:{p}" : host;
        var path = request.Path.Value ?? "/";
        path = redirect.Path switch
        {
            { Type: "ReplaceFullPath", ReplaceFullPath: { } full } => full,
            { Type: "ReplacePrefixMatch", ReplacePrefixMatch: { } prefix } when match is { Type: PathMatchTypes.PathPrefix } =>
                Join(prefix, path[Math.Min(path.Length, match.Value.TrimEnd('/').Length)..]),
            _ => path,
        };
        return UriHelper.BuildAbsolute(scheme, new HostString(authority), PathString.Empty, new PathString(path), request.QueryString);
    }

    private static string Join(string prefix, string rest) =>
        rest.Length == 0 ? prefix : $"{prefix.TrimEnd('/')}/{rest.TrimStart('/')}";
}
