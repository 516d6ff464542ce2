using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>
/// Regular-expression matches on path, headers and query, applied while routing selects an endpoint, so a route whose
/// expressions do not match is skipped and the next route by precedence gets the request.
/// </summary>
internal sealed class RegexMatcherPolicy(RouteTable routes) : MatcherPolicy, IEndpointSelectorPolicy
{
    // After YARP's own host, header and query policies.
    public override int Order => 1000;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.Any(e => e.Metadata.GetMetadata<RouteModel>() is { } model && routes.Find(model.Config.RouteId)?.HasRegex == true);
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        ArgumentNullException.ThrowIfNull(candidates);
        for (var i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i)
                && candidates[i].Endpoint.Metadata.GetMetadata<RouteModel>() is { } model
                && routes.Find(model.Config.RouteId) is { HasRegex: true } policy
                && !policy.MatchesRegexes(httpContext.Request))
            {
                candidates.SetValidity(i, false);
            }
        }

        return Task.CompletedTask;
    }
}
