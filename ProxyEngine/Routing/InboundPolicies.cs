using System.Globalization;
using System.Text.Json;
using System.Threading.RateLimiting;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.Security;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// The policies a sidecar enforces on requests to its own service, from the latest snapshot: authorization, and rate
/// limits, one bucket for the service or one per calling service (the <see cref="MeshHeaders.Source"/> that callers'
/// proxies set); and which headers only a gateway may send its app. Shared between the sidecar's outbound side (where snapshots arrive) and its inbound listener. The
/// mesh's own health probes of the service (<see cref="IsHealthProbe"/>) pass both.
/// </summary>
public sealed class InboundPolicies
{
    private readonly Lock _gate = new();
    private IReadOnlyList<RouteLimiter> _limiters = [];
    private Dictionary<string, RouteLimiter> _byKey = new(StringComparer.Ordinal);
    private AuthorizationTable _authorization = AuthorizationTable.Empty;
    private string? _healthCheckPath;
    private IReadOnlyList<string> _gatewayIdentityHeaders = GatewayIdentityHeaders.BuiltIn;

    /// <summary>The compiled authorization policies of the latest snapshot.</summary>
    internal AuthorizationTable Authorization => Volatile.Read(ref _authorization);

    /// <summary>
    /// The headers only a gateway may send the app (<see cref="InboundPolicySnapshot.GatewayIdentityHeaders"/>), from
    /// the latest snapshot; before the first, the ones every gateway may set.
    /// </summary>
    public IReadOnlyList<string> GatewayIdentityHeaderNames => Volatile.Read(ref _gatewayIdentityHeaders);

    internal void Apply(InboundPolicySnapshot inbound, AuthorizationTable authorization)
    {
        lock (_gate)
        {
            Volatile.Write(ref _authorization, authorization);
            Volatile.Write(ref _healthCheckPath, inbound.HealthCheckPath);
            Volatile.Write(ref _gatewayIdentityHeaders, inbound.GatewayIdentityHeaders);
            var next = new Dictionary<string, RouteLimiter>(StringComparer.Ordinal);
            foreach (var policy in inbound.RateLimits)
            {
                var key = JsonSerializer.Serialize(policy, MeshJsonContext.Default.RateLimitPolicy);
                next[key] = _byKey.GetValueOrDefault(key) ?? new RouteLimiter(policy, context => context.Request.Headers[MeshHeaders.Source].ToString() is { Length: > 0 } source ? source : "unknown");
            }

            foreach (var (key, old) in _byKey)
            {
                if (!next.ContainsKey(key))
                {
                    old.Dispose();
                }
            }

            _byKey = next;
            Volatile.Write(ref _limiters, [.. next.Values]);
        }
    }

    /// <summary>
    /// Whether the request is a health probe of the service: a <c>GET</c> or <c>HEAD</c> of the path its backend policy's
    /// active health checks probe. Every proxy that calls the service sends them to decide which instances get traffic;
    /// a policy that refused them would take healthy instances out of rotation, so they are let through, as Linkerd lets
    /// probes of its probe paths through.
    /// </summary>
    public bool IsHealthProbe(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Volatile.Read(ref _healthCheckPath) is { } path && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
            && string.Equals(request.Path.Value, path, StringComparison.Ordinal);
    }

    /// <summary>Applies the rate limits (not to health probes); writes the 429 and returns false when one refuses the request.</summary>
    public async ValueTask<bool> AdmitAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (IsHealthProbe(context.Request))
        {
            return true;
        }

        foreach (var limiter in Volatile.Read(ref _limiters))
        {
            using var lease = limiter.Acquire(context);
            if (!lease.IsAcquired)
            {
                var wait = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                var policy = limiter.Policy;
                await MeshErrorWriter.WriteAsync(context, StatusCodes.Status429TooManyRequests, MeshErrors.RateLimited,
                    $"rate limit '{policy.Name}' allows {policy.Requests} requests per {policy.Period}{(policy.Per == "Source" ? " per calling service" : "")}.").ConfigureAwait(false);
                return false;
            }
        }

        return true;
    }
}
