using System.Text.RegularExpressions;
using AspireMesh.Contracts.Security;

namespace AspireMesh.Contracts.Config;

/// <summary>
/// Checks a whole <see cref="MeshConfig"/> and collects every error with its path (e.g.
/// <c>routes[2].rules[0].backendRefs[1].weight</c>); it never stops at the first.
/// </summary>
public static partial class MeshConfigValidator
{
    private static readonly HashSet<string> Methods = new(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"], StringComparer.Ordinal);

    /// <summary>Returns all errors in <paramref name="config"/>, in document order; empty when it is valid.</summary>
    public static IReadOnlyList<ConfigError> Validate(MeshConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var context = new Context(config);
        ValidateServices(config, context);
        ValidateRoutes(config, context);
        ValidatePolicies(config.Policies, context);
        return context.Errors;
    }

    /// <summary>Whether <paramref name="name"/> is an RFC 1123 DNS label starting with a letter.</summary>
    public static bool IsDnsLabel(string? name) => name is not null && DnsLabel().IsMatch(name);

    private static void ValidateServices(MeshConfig config, Context context)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < config.Services.Count; i++)
        {
            var service = config.Services[i];
            var path = $"services[{i}]";
            if (!IsDnsLabel(service.Name))
            {
                context.Add($"{path}.name", $"'{service.Name}' is not a valid service name: use 1-63 lower-case letters, digits or '-', starting with a letter.");
            }
            else if (!seen.Add(service.Name))
            {
                context.Add($"{path}.name", $"service '{service.Name}' is declared more than once.");
            }

            if (service.Mtls is not (MtlsModes.Strict or MtlsModes.Permissive))
            {
                context.Add($"{path}.mtls", $"'{service.Mtls}' is not an mTLS mode: use {MtlsModes.Strict} or {MtlsModes.Permissive}.");
            }

            for (var r = 0; r < service.References.Count; r++)
            {
                if (!context.Services.Contains(service.References[r]))
                {
                    context.Add($"{path}.references[{r}]", $"service '{service.Name}' references '{service.References[r]}', which is not a declared service.");
                }
            }
        }
    }

    private static void ValidateRoutes(MeshConfig config, Context context)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var claimed = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < config.Routes.Count; i++)
        {
            var route = config.Routes[i];
            var path = $"routes[{i}]";
            if (string.IsNullOrWhiteSpace(route.Name))
            {
                context.Add($"{path}.name", "a route needs a name.");
            }
            else if (!names.Add(route.Name))
            {
                context.Add($"{path}.name", $"route '{route.Name}' is declared more than once.");
            }

            if (route.ParentRefs.Count == 0)
            {
                context.Add($"{path}.parentRefs", "a route must attach to at least one gateway or service.");
            }

            for (var p = 0; p < route.ParentRefs.Count; p++)
            {
                var parent = route.ParentRefs[p];
                var parentPath = $"{path}.parentRefs[{p}]";
                if (parent.Kind is not (ParentKinds.Gateway or ParentKinds.Service))
                {
                    context.Add($"{parentPath}.kind", $"'{parent.Kind}' is not a parent kind; use Gateway or Service.");
                }

                if (string.IsNullOrWhiteSpace(parent.Name))
                {
                    context.Add($"{parentPath}.name", "a parent reference needs a name.");
                }
                else if (parent.Kind == ParentKinds.Service && !context.Services.Contains(parent.Name))
                {
                    context.Add($"{parentPath}.name", $"'{parent.Name}' is not a declared service.");
                }
                else if (parent.Kind == ParentKinds.Gateway && !IsDnsLabel(parent.Name))
                {
                    // A gateway's name is part of its mesh identity, so it is a DNS label as a service's is; no gateway has another.
                    context.Add($"{parentPath}.name", $"'{parent.Name}' is not a gateway name (1-63 lower-case letters, digits or '-', starting with a letter).");
                }
            }

            for (var h = 0; h < route.Hostnames.Count; h++)
            {
                if (!IsHostname(route.Hostnames[h]))
                {
                    context.Add($"{path}.hostnames[{h}]", $"'{route.Hostnames[h]}' is not a host name (a leading '*.' is allowed).");
                }
            }

            if (route.Rules.Count == 0)
            {
                context.Add($"{path}.rules", "a route needs at least one rule.");
            }

            for (var r = 0; r < route.Rules.Count; r++)
            {
                ValidateRule(route.Rules[r], $"{path}.rules[{r}]", context);
                CheckConflicts(route, route.Rules[r], $"{path}.rules[{r}]", claimed, context);
                var cors = route.Rules[r].Filters.ToList().FindIndex(f => f.Type == FilterTypes.Cors);
                if (cors >= 0 && route.ParentRefs.Any(p => p.Kind == ParentKinds.Service))
                {
                    // Browsers call gateways; between services a caller's Origin is only passed along.
                    context.Add($"{path}.rules[{r}].filters[{cors}]", "a CORS filter applies where browsers call: on a route attached to gateways only, not to a service.");
                }
            }
        }
    }

    private static void ValidateRule(HttpRouteRule rule, string path, Context context)
    {
        for (var m = 0; m < rule.Matches.Count; m++)
        {
            ValidateMatch(rule.Matches[m], $"{path}.matches[{m}]", context);
        }

        var redirects = 0;
        var rewrites = 0;
        for (var f = 0; f < rule.Filters.Count; f++)
        {
            var filter = rule.Filters[f];
            redirects += filter.Type == FilterTypes.RequestRedirect ? 1 : 0;
            rewrites += filter.Type == FilterTypes.UrlRewrite ? 1 : 0;
            ValidateFilter(rule, filter, $"{path}.filters[{f}]", context);
        }

        if (redirects > 1 || rewrites > 1 || (redirects > 0 && rewrites > 0))
        {
            context.Add($"{path}.filters", "a rule may have one RequestRedirect or one URLRewrite, not several nor both.");
        }

        if (rule.Filters.Count(f => f.Type == FilterTypes.Cors) > 1)
        {
            context.Add($"{path}.filters", "a rule may have one CORS filter.");
        }

        if (redirects > 0 && rule.BackendRefs.Count > 0)
        {
            context.Add($"{path}.backendRefs", "a rule with a RequestRedirect answers itself; it cannot also have backends.");
        }
        else if (redirects == 0 && rule.BackendRefs.Count == 0)
        {
            context.Add($"{path}.backendRefs", "a rule needs at least one backend (or a RequestRedirect filter).");
        }

        long weights = 0;
        for (var b = 0; b < rule.BackendRefs.Count; b++)
        {
            var backend = rule.BackendRefs[b];
            context.RequireService(backend.Name, $"{path}.backendRefs[{b}].name");
            if (backend.Weight is < 0 or > 1_000_000)
            {
                context.Add($"{path}.backendRefs[{b}].weight", $"weight {backend.Weight} is outside 0-1000000.");
            }

            weights += Math.Max(0, backend.Weight);
        }

        if (rule.BackendRefs.Count > 0 && weights == 0)
        {
            context.Add($"{path}.backendRefs", "the backend weights sum to 0, so no request could be sent anywhere.");
        }

        TimeSpan? request = null;
        if (rule.Timeouts is { } timeouts)
        {
            request = context.Duration(timeouts.Request, $"{path}.timeouts.request", optional: true);
            var backend = context.Duration(timeouts.BackendRequest, $"{path}.timeouts.backendRequest", optional: true);
            if (request is { } r && backend is { } b && b > r)
            {
                context.Add($"{path}.timeouts.backendRequest", $"{timeouts.BackendRequest} is longer than the whole request's timeout ({timeouts.Request}).");
            }
        }

        if (rule.Retry is { } retry)
        {
            if (retry.Attempts is < 1 or > 10)
            {
                context.Add($"{path}.retry.attempts", $"{retry.Attempts} attempts is outside 1-10.");
            }

            for (var c = 0; c < retry.Codes.Count; c++)
            {
                if (retry.Codes[c] is < 400 or > 599)
                {
                    context.Add($"{path}.retry.codes[{c}]", $"{retry.Codes[c]} is not an error status (400-599).");
                }
            }

            for (var c = 0; c < retry.Conditions.Count; c++)
            {
                if (!HttpRouteRetry.KnownConditions.Contains(retry.Conditions[c]))
                {
                    context.Add($"{path}.retry.conditions[{c}]", $"'{retry.Conditions[c]}' is not a retry condition; use {string.Join(", ", HttpRouteRetry.KnownConditions)}.");
                }
            }

            context.Duration(retry.Backoff, $"{path}.retry.backoff", optional: false);
        }
    }

    private static void ValidateMatch(HttpRouteMatch match, string path, Context context)
    {
        if (match.Path is { } pathMatch)
        {
            switch (pathMatch.Type)
            {
                case MatchTypes.Exact or MatchTypes.PathPrefix:
                    if (!pathMatch.Value.StartsWith('/'))
                    {
                        context.Add($"{path}.path.value", $"'{pathMatch.Value}' must be an absolute path starting with '/'.");
                    }

                    break;
                case MatchTypes.RegularExpression:
                    context.Regex(pathMatch.Value, $"{path}.path.value");
                    break;
                default:
                    context.Add($"{path}.path.type", $"'{pathMatch.Type}' is not a path match type; use Exact, PathPrefix or RegularExpression.");
                    break;
            }
        }

        ValidateValueMatches(match.Headers, $"{path}.headers", "header", context);
        ValidateValueMatches(match.QueryParams, $"{path}.queryParams", "query parameter", context);
        if (match.Method is { } method && !Methods.Contains(method))
        {
            context.Add($"{path}.method", $"'{method}' is not an HTTP method; use one of {string.Join(", ", Methods)} (upper case).");
        }
    }

    private static void ValidateValueMatches(IReadOnlyList<HttpValueMatch> matches, string path, string what, Context context)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < matches.Count; i++)
        {
            var match = matches[i];
            if (!IsToken(match.Name))
            {
                context.Add($"{path}[{i}].name", $"'{match.Name}' is not a valid {what} name.");
            }
            else if (!seen.Add(match.Name))
            {
                context.Add($"{path}[{i}].name", $"{what} '{match.Name}' is matched more than once in the same match.");
            }

            if (match.Type == MatchTypes.RegularExpression)
            {
                context.Regex(match.Value, $"{path}[{i}].value");
            }
            else if (match.Type != MatchTypes.Exact)
            {
                context.Add($"{path}[{i}].type", $"'{match.Type}' is not a {what} match type; use Exact or RegularExpression.");
            }
        }
    }

    private static void ValidateFilter(HttpRouteRule rule, HttpRouteFilter filter, string path, Context context)
    {
        object?[] bodies = [filter.RequestHeaderModifier, filter.ResponseHeaderModifier, filter.RequestRedirect, filter.UrlRewrite, filter.RequestMirror, filter.FaultInjection, filter.Cors];
        var index = FilterTypes.All.ToList().IndexOf(filter.Type);
        if (index < 0)
        {
            context.Add($"{path}.type", $"'{filter.Type}' is not a filter type; use {string.Join(", ", FilterTypes.All)}.");
            return;
        }

        var field = char.ToLowerInvariant(filter.Type[0]) + filter.Type[1..];
        if (filter.Type == FilterTypes.UrlRewrite)
        {
            field = "urlRewrite";
        }
        else if (filter.Type == FilterTypes.Cors)
        {
            field = "cors";
        }

        if (bodies[index] is null)
        {
            context.Add($"{path}.{field}", $"a {filter.Type} filter needs its '{field}' settings.");
            return;
        }

        if (bodies.Count(b => b is not null) > 1)
        {
            context.Add(path, $"a {filter.Type} filter may only set '{field}'.");
        }

        switch (bodies[index])
        {
            case HeaderModifier modifier:
                ValidateHeaderModifier(modifier, $"{path}.{field}", context);
                break;
            case RequestRedirect redirect:
                if (redirect.Scheme is not (null or "http" or "https"))
                {
                    context.Add($"{path}.{field}.scheme", $"'{redirect.Scheme}' is not http or https.");
                }

                if (redirect.Hostname is { } host && !IsHostname(host))
                {
                    context.Add($"{path}.{field}.hostname", $"'{host}' is not a host name.");
                }

                if (redirect.Port is < 1 or > 65535)
                {
                    context.Add($"{path}.{field}.port", $"{redirect.Port} is not a port (1-65535).");
                }

                if (redirect.StatusCode is not (301 or 302 or 303 or 307 or 308))
                {
                    context.Add($"{path}.{field}.statusCode", $"{redirect.StatusCode} is not a redirect status; use 301, 302, 303, 307 or 308.");
                }

                ValidatePathModifier(rule, redirect.Path, $"{path}.{field}.path", context);
                break;
            case UrlRewrite rewrite:
                if (rewrite.Hostname is { } rewriteHost && !IsHostname(rewriteHost))
                {
                    context.Add($"{path}.{field}.hostname", $"'{rewriteHost}' is not a host name.");
                }

                if (rewrite.Hostname is null && rewrite.Path is null)
                {
                    context.Add($"{path}.{field}", "a URLRewrite needs a hostname or a path.");
                }

                ValidatePathModifier(rule, rewrite.Path, $"{path}.{field}.path", context);
                break;
            case RequestMirror mirror:
                context.RequireService(mirror.BackendRef.Name, $"{path}.{field}.backendRef.name");
                context.Percentage(mirror.Percent, $"{path}.{field}.percent");
                break;
            case FaultInjection fault:
                if (fault.Delay is null && fault.Abort is null)
                {
                    context.Add($"{path}.{field}", "a FaultInjection needs a delay, an abort, or both.");
                }

                if (fault.Delay is { } delay)
                {
                    context.Duration(delay.FixedDelay, $"{path}.{field}.delay.fixedDelay", optional: false);
                    context.Percentage(delay.Percentage, $"{path}.{field}.delay.percentage");
                }

                if (fault.Abort is { } abort)
                {
                    if (abort.HttpStatus is < 200 or > 599)
                    {
                        context.Add($"{path}.{field}.abort.httpStatus", $"{abort.HttpStatus} is not an HTTP status (200-599).");
                    }

                    context.Percentage(abort.Percentage, $"{path}.{field}.abort.percentage");
                }

                break;
            case CorsFilter cors:
                ValidateCors(cors, $"{path}.{field}", context);
                break;
        }
    }

    private static readonly string[] CorsMethods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

    private static void ValidateCors(CorsFilter cors, string path, Context context)
    {
        if (cors.AllowOrigins.Count == 0)
        {
            context.Add($"{path}.allowOrigins", "a CORS filter needs at least one origin (scheme://host[:port], https://*.example.com, or * for any).");
        }

        if (cors.AllowOrigins.Contains("*") && cors.AllowOrigins.Count > 1)
        {
            context.Add($"{path}.allowOrigins", "'*' (any) stands alone.");
        }

        for (var i = 0; i < cors.AllowOrigins.Count; i++)
        {
            if (CorsOrigin.Problem(cors.AllowOrigins[i]) is { } problem)
            {
                context.Add($"{path}.allowOrigins[{i}]", $"'{cors.AllowOrigins[i]}' {problem}.");
            }
        }

        foreach (var (list, name, max) in new[] { (cors.AllowOrigins, "allowOrigins", 64), (cors.AllowMethods, "allowMethods", CorsMethods.Length), (cors.AllowHeaders, "allowHeaders", 64), (cors.ExposeHeaders, "exposeHeaders", 64) })
        {
            if (list.Count > max)
            {
                context.Add($"{path}.{name}", $"{list.Count} entries; at most {max}.");
            }

            if (name != "allowOrigins" && list.Contains("*") && list.Count > 1)
            {
                context.Add($"{path}.{name}", "'*' (any) stands alone.");
            }

            for (var i = 0; i < list.Count && name != "allowOrigins"; i++)
            {
                // Browsers compare methods byte for byte with the upper-case name they send.
                if (name == "allowMethods" ? list[i] != "*" && !CorsMethods.Contains(list[i]) : list[i] != "*" && !IsToken(list[i]))
                {
                    context.Add($"{path}.{name}[{i}]", name == "allowMethods" ? $"'{list[i]}' is not an HTTP method; use {string.Join(", ", CorsMethods)} (upper case) or *." : $"'{list[i]}' is not a header name.");
                }
            }
        }

        if (cors.MaxAge < 1)
        {
            context.Add($"{path}.maxAge", $"{cors.MaxAge} is not a number of seconds (1 or more).");
        }
    }

    private static void ValidateHeaderModifier(HeaderModifier modifier, string path, Context context)
    {
        if (modifier.Set.Count + modifier.Add.Count + modifier.Remove.Count == 0)
        {
            context.Add(path, "a header modifier needs at least one of set, add or remove.");
        }

        foreach (var (list, name) in new[] { (modifier.Set, "set"), (modifier.Add, "add") })
        {
            for (var i = 0; i < list.Count; i++)
            {
                if (!IsToken(list[i].Name))
                {
                    context.Add($"{path}.{name}[{i}].name", $"'{list[i].Name}' is not a valid header name.");
                }

                if (list[i].Value.AsSpan().IndexOfAny('\r', '\n') >= 0)
                {
                    context.Add($"{path}.{name}[{i}].value", "a header value cannot contain CR or LF.");
                }
            }
        }

        for (var i = 0; i < modifier.Remove.Count; i++)
        {
            if (!IsToken(modifier.Remove[i]))
            {
                context.Add($"{path}.remove[{i}]", $"'{modifier.Remove[i]}' is not a valid header name.");
            }
        }
    }

    private static void ValidatePathModifier(HttpRouteRule rule, PathModifier? modifier, string path, Context context)
    {
        if (modifier is null)
        {
            return;
        }

        switch (modifier.Type)
        {
            case "ReplaceFullPath":
                if (modifier.ReplaceFullPath?.StartsWith('/') != true)
                {
                    context.Add($"{path}.replaceFullPath", "ReplaceFullPath needs an absolute path starting with '/'.");
                }

                break;
            case "ReplacePrefixMatch":
                if (modifier.ReplacePrefixMatch?.StartsWith('/') != true)
                {
                    context.Add($"{path}.replacePrefixMatch", "ReplacePrefixMatch needs an absolute path starting with '/'.");
                }

                if (rule.Matches.Count == 0 || rule.Matches.Any(m => m.Path?.Type is not MatchTypes.PathPrefix))
                {
                    context.Add($"{path}.type", "ReplacePrefixMatch needs every match of the rule to be a PathPrefix match.");
                }

                break;
            default:
                context.Add($"{path}.type", $"'{modifier.Type}' is not a path modifier; use ReplaceFullPath or ReplacePrefixMatch.");
                break;
        }
    }

    /// <summary>Two rules of the same parent and host that match exactly the same requests: the second could never be chosen.</summary>
    private static void CheckConflicts(HttpRouteConfig route, HttpRouteRule rule, string path, Dictionary<string, string> claimed, Context context)
    {
        var matches = rule.Matches.Count == 0 ? [new HttpRouteMatch { Path = new HttpPathMatch() }] : rule.Matches;
        var hosts = route.Hostnames.Count == 0 ? ["*"] : route.Hostnames;
        for (var m = 0; m < matches.Count; m++)
        {
            var match = matches[m];
            var signature = string.Join('|',
                match.Path?.Type ?? MatchTypes.PathPrefix, match.Path?.Value ?? "/", match.Method ?? "",
                string.Join(',', match.Headers.Select(h => $"{h.Name.ToUpperInvariant()}:{h.Type}:{h.Value}").Order(StringComparer.Ordinal)),
                string.Join(',', match.QueryParams.Select(q => $"{q.Name}:{q.Type}:{q.Value}").Order(StringComparer.Ordinal)));
            var matchPath = rule.Matches.Count == 0 ? path : $"{path}.matches[{m}]";
            foreach (var parent in route.ParentRefs)
            {
                foreach (var host in hosts)
                {
                    var key = $"{parent.Kind}/{parent.Name}/{host.ToUpperInvariant()}/{signature}";
                    if (!claimed.TryAdd(key, matchPath))
                    {
                        context.Add(matchPath, $"conflicts with {claimed[key]}: both match the same requests on {parent.Kind.ToLowerInvariant()} '{parent.Name}'{(host == "*" ? "" : $" for host '{host}'")}.");
                    }
                }
            }
        }
    }

    private static void ValidatePolicies(PoliciesConfig policies, Context context)
    {
        var backendTargets = new Dictionary<string, string>(StringComparer.Ordinal);
        Named(policies.Backends, p => p.Name, "policies.backends", context, (policy, path) =>
        {
            context.RequireTarget(policy.TargetRef, $"{path}.targetRef", servicesOnly: true);
            if (!backendTargets.TryAdd(policy.TargetRef.Name, path))
            {
                context.Add($"{path}.targetRef", $"service '{policy.TargetRef.Name}' already has a backend policy ({backendTargets[policy.TargetRef.Name]}).");
            }

            if (policy.LoadBalancer is { } lb)
            {
                if (!LoadBalancerConfig.Types.Contains(lb.Type))
                {
                    context.Add($"{path}.loadBalancer.type", $"'{lb.Type}' is not a load balancer; use {string.Join(", ", LoadBalancerConfig.Types)}.");
                }
                else if (lb.Type == "ConsistentHash" && (lb.HashHeader is null) == (lb.HashCookie is null))
                {
                    context.Add($"{path}.loadBalancer", "ConsistentHash needs exactly one of hashHeader or hashCookie.");
                }
                else if (lb.Type != "ConsistentHash" && (lb.HashHeader ?? lb.HashCookie) is not null)
                {
                    context.Add($"{path}.loadBalancer", $"hashHeader and hashCookie apply to ConsistentHash, not {lb.Type}.");
                }
            }

            if (policy.OutlierDetection is { } outlier)
            {
                context.AtLeast(outlier.ConsecutiveFailures, 1, $"{path}.outlierDetection.consecutiveFailures");
                context.Duration(outlier.BaseEjectionTime, $"{path}.outlierDetection.baseEjectionTime", optional: false);
                context.Percentage(outlier.MaxEjectionPercent, $"{path}.outlierDetection.maxEjectionPercent");
            }

            if (policy.HealthCheck is { } check)
            {
                if (!check.Path.StartsWith('/'))
                {
                    context.Add($"{path}.healthCheck.path", $"'{check.Path}' must start with '/'.");
                }

                var interval = context.Duration(check.Interval, $"{path}.healthCheck.interval", optional: false);
                var timeout = context.Duration(check.Timeout, $"{path}.healthCheck.timeout", optional: false);
                if (interval is { } i && timeout is { } t && t > i)
                {
                    context.Add($"{path}.healthCheck.timeout", $"{check.Timeout} is longer than the interval ({check.Interval}).");
                }

                context.AtLeast(check.UnhealthyThreshold, 1, $"{path}.healthCheck.unhealthyThreshold");
            }

            if (policy.ConnectionLimits is { } limits)
            {
                context.AtLeast(limits.MaxConnections, 1, $"{path}.connectionLimits.maxConnections");
                context.AtLeast(limits.MaxPendingRequests, 0, $"{path}.connectionLimits.maxPendingRequests");
            }

            context.Duration(policy.SlowStart, $"{path}.slowStart", optional: true);
            if (policy.RetryBudget is { } budget)
            {
                context.Percentage(budget.Percent, $"{path}.retryBudget.percent");
                context.AtLeast(budget.MinRetriesPerSecond, 0, $"{path}.retryBudget.minRetriesPerSecond");
            }
        });

        Named(policies.RateLimits, p => p.Name, "policies.rateLimits", context, (policy, path) =>
        {
            context.RequireTarget(policy.TargetRef, $"{path}.targetRef", servicesOnly: false);
            context.AtLeast(policy.Requests, 1, $"{path}.requests");
            context.Duration(policy.Period, $"{path}.period", optional: false);
            if (policy.Burst is { } burst)
            {
                context.AtLeast(burst, 1, $"{path}.burst");
            }

            if (policy.Per is not ("Target" or "Source"))
            {
                context.Add($"{path}.per", $"'{policy.Per}' is not Target or Source.");
            }
        });

        Named(policies.Authorization, p => p.Name, "policies.authorization", context, (policy, path) =>
        {
            context.RequireTarget(policy.TargetRef, $"{path}.targetRef", servicesOnly: true);
            if (policy.Action is not ("Allow" or "Deny"))
            {
                context.Add($"{path}.action", $"'{policy.Action}' is not Allow or Deny.");
            }
            else if (policy.Action == "Deny" && policy.Rules.Count == 0)
            {
                context.Add($"{path}.rules", "a Deny policy without rules matches no request, so it would deny nothing; add a rule ({} matches every request).");
            }

            if (policy.Mode is not ("Enforce" or "Audit"))
            {
                context.Add($"{path}.mode", $"'{policy.Mode}' is not Enforce or Audit.");
            }

            for (var r = 0; r < policy.Rules.Count; r++)
            {
                ValidateAuthorizationRule(policy.Rules[r], $"{path}.rules[{r}]", context);
                // End users are known only where the service checks their tokens: elsewhere such a rule could never match.
                var jwt = policies.Authentication.FirstOrDefault(a => a.TargetRef.Kind == ParentKinds.Service && a.TargetRef.Name == policy.TargetRef.Name && a.Type == AuthenticationTypes.Jwt);
                if (policy.Rules[r].RequestPrincipals.Count > 0 && jwt is null)
                {
                    context.Add($"{path}.rules[{r}].requestPrincipals", $"service '{policy.TargetRef.Name}' has no Jwt authentication policy (targetRef: {{ kind: Service, name: {policy.TargetRef.Name} }}), so no request to it has a principal.");
                }
                else if (jwt?.Jwt?.Issuer is { } issuer)
                {
                    // A principal of another issuer could never match: in a Deny rule it would silently deny nothing.
                    for (var p = 0; p < policy.Rules[r].RequestPrincipals.Count; p++)
                    {
                        var principal = policy.Rules[r].RequestPrincipals[p];
                        if (principal != "*" && !principal.StartsWith(issuer + "/", StringComparison.Ordinal))
                        {
                            context.Add($"{path}.rules[{r}].requestPrincipals[{p}]", $"'{principal}' is not of issuer '{issuer}', the only one service '{policy.TargetRef.Name}' accepts tokens from.");
                        }
                    }
                }
            }
        });

        Named(policies.Egress, p => p.Name, "policies.egress", context, (policy, path) =>
        {
            if (policy.Hosts.Count == 0)
            {
                context.Add($"{path}.hosts", "an egress policy needs at least one host.");
            }

            for (var h = 0; h < policy.Hosts.Count; h++)
            {
                if (!IsHostname(policy.Hosts[h]))
                {
                    context.Add($"{path}.hosts[{h}]", $"'{policy.Hosts[h]}' is not a host name (a leading '*.' is allowed).");
                }
            }

            if (policy.Port is < 1 or > 65535)
            {
                context.Add($"{path}.port", $"{policy.Port} is not a port (1-65535).");
            }

            if (!EgressPolicy.TlsModes.Contains(policy.Tls))
            {
                context.Add($"{path}.tls", $"'{policy.Tls}' is not Originate or None.");
            }

            for (var s = 0; s < policy.FromServices.Count; s++)
            {
                context.RequireService(policy.FromServices[s], $"{path}.fromServices[{s}]");
            }

            if (policy.CaCertificate is { } ca)
            {
                if (policy.Tls != "Originate")
                {
                    context.Add($"{path}.caCertificate", $"a CA certificate is used to check the hosts' certificates when the mesh originates TLS; it needs tls: Originate, not {policy.Tls}.");
                }
                else if (CaCertificates.IsPem(ca))
                {
                    if (CaCertificates.Parse(ca, out var error) is null)
                    {
                        context.Add($"{path}.caCertificate", $"the PEM text holds no usable certificate: {error}");
                    }
                }
                else if (!Path.IsPathFullyQualified(ca))
                {
                    context.Add($"{path}.caCertificate", $"'{ca}' is neither PEM text (-----BEGIN CERTIFICATE-----) nor an absolute path to a PEM file.");
                }
            }
        });

        ValidateAuthentication(policies.Authentication, context);
    }

    private static void ValidateAuthentication(IReadOnlyList<AuthenticationPolicy> policies, Context context)
    {
        var targets = new Dictionary<string, string>(StringComparer.Ordinal);
        var apiKeyHeaders = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var policy in policies)
        {
            if (policy.ApiKey is { Header: { Length: > 0 } header })
            {
                apiKeyHeaders.TryAdd(header, policy.Name);
            }
        }

        Named(policies, p => p.Name, "policies.authentication", context, (policy, path) =>
        {
            var target = policy.TargetRef;
            if (target.Kind == ParentKinds.Gateway)
            {
                if (!context.Gateways.Contains(target.Name))
                {
                    context.Add($"{path}.targetRef.name", $"no route attaches to gateway '{target.Name}'.");
                }
            }
            else if (target.Kind == "Route")
            {
                if (!context.Routes.Contains(target.Name))
                {
                    context.Add($"{path}.targetRef.name", $"'{target.Name}' is not a declared route.");
                }
                else if (!context.GatewayRoutes.Contains(target.Name))
                {
                    context.Add($"{path}.targetRef.name", $"route '{target.Name}' attaches to no gateway; authentication is enforced by gateways.");
                }
            }
            else if (target.Kind == ParentKinds.Service)
            {
                // Enforced by the service's sidecars on every request it receives, from gateways and services alike.
                context.RequireService(target.Name, $"{path}.targetRef.name");
                if (policy.Type == AuthenticationTypes.ApiKey)
                {
                    // A key is a client's secret for a gateway: the gateway that checks it does not pass it on, and a
                    // sidecar has no place to be given the keys.
                    context.Add($"{path}.type", $"an ApiKey policy cannot target service '{target.Name}': API keys are checked by gateways (target a Gateway or Route); a service takes Jwt.");
                }
            }
            else
            {
                context.Add($"{path}.targetRef.kind", $"'{target.Kind}' cannot be targeted here; use Gateway, Route or Service.");
            }

            if (targets.TryGetValue($"{target.Kind}/{target.Name}", out var other))
            {
                context.Add($"{path}.targetRef", $"{target.Kind} '{target.Name}' already has authentication policy '{other}'.");
            }
            else
            {
                targets[$"{target.Kind}/{target.Name}"] = policy.Name;
            }

            switch (policy.Type)
            {
                case AuthenticationTypes.Jwt:
                    if (policy.Jwt is not { } jwt)
                    {
                        context.Add($"{path}.jwt", "a Jwt policy needs jwt settings (keys or jwksUri).");
                    }
                    else
                    {
                        ValidateJwt(jwt, $"{path}.jwt", apiKeyHeaders, context);
                    }

                    if (policy.ApiKey is not null)
                    {
                        context.Add($"{path}.apiKey", "a Jwt policy takes no apiKey settings.");
                    }

                    break;
                case AuthenticationTypes.ApiKey:
                    if (policy.ApiKey is not { } apiKey)
                    {
                        context.Add($"{path}.apiKey", "an ApiKey policy needs apiKey settings (keys or environmentVariable).");
                    }
                    else
                    {
                        ValidateApiKey(apiKey, $"{path}.apiKey", context);
                    }

                    if (policy.Jwt is not null)
                    {
                        context.Add($"{path}.jwt", "an ApiKey policy takes no jwt settings.");
                    }

                    break;
                default:
                    context.Add($"{path}.type", $"'{policy.Type}' is not Jwt or ApiKey.");
                    break;
            }
        });
    }

    private static void ValidateJwt(JwtAuthentication jwt, string path, IReadOnlyDictionary<string, string> apiKeyHeaders, Context context)
    {
        if (jwt.Keys.Count == 0 && jwt.JwksUri is null)
        {
            context.Add(path, "give signing keys (keys) or where to fetch them (jwksUri).");
        }

        if (jwt.JwksUri is { } uri && !(Uri.TryCreate(uri, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https"))
        {
            context.Add($"{path}.jwksUri", $"'{uri}' is not an absolute http(s) URL.");
        }

        for (var k = 0; k < jwt.Keys.Count; k++)
        {
            var key = jwt.Keys[k];
            var read = Security.SigningKeyReader.TryRead(key.Field, out var error);
            read?.Rsa?.Dispose();
            read?.EC?.Dispose();
            if (error is not null)
            {
                context.Add($"{path}.keys[{k}]", error);
            }

            if (key.Alg is { } alg && !JwtAuthentication.SupportedAlgorithms.Contains(alg))
            {
                context.Add($"{path}.keys[{k}].alg", $"'{alg}' is not a supported algorithm ({string.Join(", ", JwtAuthentication.SupportedAlgorithms)}).");
            }
        }

        for (var a = 0; a < jwt.Algorithms.Count; a++)
        {
            if (!JwtAuthentication.SupportedAlgorithms.Contains(jwt.Algorithms[a]))
            {
                context.Add($"{path}.algorithms[{a}]", $"'{jwt.Algorithms[a]}' is not a supported algorithm ({string.Join(", ", JwtAuthentication.SupportedAlgorithms)}).");
            }
        }

        for (var a = 0; a < jwt.Audiences.Count; a++)
        {
            if (string.IsNullOrEmpty(jwt.Audiences[a]))
            {
                context.Add($"{path}.audiences[{a}]", "an audience cannot be empty.");
            }
        }

        if (jwt.Issuer is "")
        {
            context.Add($"{path}.issuer", "the issuer cannot be empty; leave it out to accept any.");
        }

        context.Duration(jwt.ClockSkew, $"{path}.clockSkew", optional: false);
        for (var c = 0; c < jwt.ClaimsToHeaders.Count; c++)
        {
            var mapping = jwt.ClaimsToHeaders[c];
            if (string.IsNullOrEmpty(mapping.Claim))
            {
                context.Add($"{path}.claimsToHeaders[{c}].claim", "a claim name is needed.");
            }

            if (!IsToken(mapping.Header))
            {
                context.Add($"{path}.claimsToHeaders[{c}].header", $"'{mapping.Header}' is not a header name.");
            }
            else if (!GatewayIdentityHeaders.IsAllowedForClaims(mapping.Header) || apiKeyHeaders.ContainsKey(mapping.Header))
            {
                var meaning = apiKeyHeaders.TryGetValue(mapping.Header, out var policy) ? $"is where authentication policy '{policy}' takes API keys" : "already means something to HTTP or to the mesh";
                context.Add($"{path}.claimsToHeaders[{c}].header",
                    $"'{mapping.Header}' {meaning}; pass the claim in an x- header of its own, e.g. x-mesh-jwt-{(mapping.Claim is { Length: > 0 } claim && IsToken(claim) ? claim.ToLowerInvariant() : "claim")}.");
            }
        }
    }

    private static void ValidateApiKey(ApiKeyAuthentication apiKey, string path, Context context)
    {
        if (!IsToken(apiKey.Header))
        {
            context.Add($"{path}.header", $"'{apiKey.Header}' is not a header name.");
        }

        if (apiKey.Keys.Count == 0 && apiKey.EnvironmentVariable is null)
        {
            context.Add(path, "give valid keys (keys, as SHA-256 hashes) or an environmentVariable holding them.");
        }

        if (apiKey.EnvironmentVariable is "")
        {
            context.Add($"{path}.environmentVariable", "the variable name cannot be empty.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var k = 0; k < apiKey.Keys.Count; k++)
        {
            var key = apiKey.Keys[k];
            if (string.IsNullOrEmpty(key.Name) || !IsToken(key.Name))
            {
                context.Add($"{path}.keys[{k}].name", $"'{key.Name}' is not a key name (letters, digits and -._~ etc., no spaces).");
            }
            else if (!names.Add(key.Name))
            {
                context.Add($"{path}.keys[{k}].name", $"key '{key.Name}' is declared more than once.");
            }

            if (key.Sha256.Length != 64 || !key.Sha256.All(char.IsAsciiHexDigit))
            {
                context.Add($"{path}.keys[{k}].sha256", "not a SHA-256 hash: give 64 hex digits (printf %s \"$KEY\" | sha256sum), never the key itself.");
            }
        }
    }

    private static void ValidateAuthorizationRule(AuthorizationRule rule, string path, Context context)
    {
        for (var s = 0; s < rule.FromServices.Count; s++)
        {
            var service = rule.FromServices[s];
            if (SpiffeId.IsGatewayWorkload(service))
            {
                if (!IsDnsLabel(service[SpiffeId.GatewayWorkloadPrefix.Length..]))
                {
                    context.Add($"{path}.fromServices[{s}]", $"'{service}' is not gateway/<name> with a valid gateway name.");
                }
            }
            else
            {
                context.RequireService(service, $"{path}.fromServices[{s}]");
            }
        }

        for (var s = 0; s < rule.FromPrincipals.Count; s++)
        {
            var principal = rule.FromPrincipals[s];
            if (!principal.StartsWith("spiffe://", StringComparison.Ordinal) || principal.Length == "spiffe://".Length)
            {
                context.Add($"{path}.fromPrincipals[{s}]", $"'{principal}' is not a SPIFFE ID (spiffe://trust-domain/ns/namespace/sa/service).");
            }
            else if (principal.IndexOf('*', StringComparison.Ordinal) is var star and >= 0 && star != principal.Length - 1)
            {
                context.Add($"{path}.fromPrincipals[{s}]", $"'{principal}' has a '*' before its end; only a trailing '*' (any suffix) is supported.");
            }
        }

        for (var s = 0; s < rule.RequestPrincipals.Count; s++)
        {
            var principal = rule.RequestPrincipals[s];
            if (principal.Length == 0 || (!principal.Contains('/', StringComparison.Ordinal) && principal != "*"))
            {
                context.Add($"{path}.requestPrincipals[{s}]", $"'{principal}' is not issuer/subject (e.g. https://login.example.com/alice, or https://login.example.com/* for any user of that issuer).");
            }
            else if (principal.IndexOf('*', StringComparison.Ordinal) is var star and >= 0 && star != principal.Length - 1)
            {
                context.Add($"{path}.requestPrincipals[{s}]", $"'{principal}' has a '*' before its end; only a trailing '*' (any suffix) is supported.");
            }
            else if (principal.Length > 1 && principal.EndsWith('*') && !principal.EndsWith("/*", StringComparison.Ordinal))
            {
                // https://id.example* would also match https://id.example.evil/...: a prefix ends at a '/'.
                context.Add($"{path}.requestPrincipals[{s}]", $"'{principal}' ends in '*' but not in '/*': write issuer/* for any user of an issuer, or * for any user.");
            }
        }

        for (var s = 0; s < rule.Paths.Count; s++)
        {
            var value = rule.Paths[s];
            if (!value.StartsWith('/'))
            {
                context.Add($"{path}.paths[{s}]", $"'{value}' must start with '/'.");
            }
            else if (value.IndexOf('*', StringComparison.Ordinal) is var star and >= 0 && star != value.Length - 1)
            {
                context.Add($"{path}.paths[{s}]", $"'{value}' has a '*' before its end; write an exact path or a prefix ending in '*'.");
            }
        }

        for (var s = 0; s < rule.Methods.Count; s++)
        {
            if (!Methods.Contains(rule.Methods[s]))
            {
                context.Add($"{path}.methods[{s}]", $"'{rule.Methods[s]}' is not an HTTP method; use one of {string.Join(", ", Methods)} (upper case).");
            }
        }

        ValidateValueMatches(rule.Headers, $"{path}.headers", "header", context);
    }

    private static void Named<T>(IReadOnlyList<T> items, Func<T, string> name, string path, Context context, Action<T, string> validate)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var itemPath = $"{path}[{i}]";
            var itemName = name(items[i]);
            if (!IsDnsLabel(itemName))
            {
                context.Add($"{itemPath}.name", $"'{itemName}' is not a valid policy name: use lower-case letters, digits or '-', starting with a letter.");
            }
            else if (!seen.Add(itemName))
            {
                context.Add($"{itemPath}.name", $"policy '{itemName}' is declared more than once.");
            }

            validate(items[i], itemPath);
        }
    }

    private static bool IsHostname(string host) => HostName().IsMatch(host);

    private static bool IsToken(string name) => name.Length > 0 && Token().IsMatch(name);

    [GeneratedRegex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabel();

    [GeneratedRegex(@"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex HostName();

    [GeneratedRegex(@"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Token();

    /// <summary>Collected errors and the names they are checked against.</summary>
    private sealed class Context(MeshConfig config)
    {
        public List<ConfigError> Errors { get; } = [];

        public HashSet<string> Services { get; } = config.Services.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);

        public HashSet<string> Routes { get; } = config.Routes.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);

        public HashSet<string> Gateways { get; } = config.Routes.SelectMany(r => r.ParentRefs).Where(p => p.Kind == ParentKinds.Gateway).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);

        public HashSet<string> GatewayRoutes { get; } = config.Routes.Where(r => r.ParentRefs.Any(p => p.Kind == ParentKinds.Gateway)).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);

        public void Add(string path, string message) => Errors.Add(new ConfigError(path, message));

        public void RequireService(string name, string path)
        {
            if (!Services.Contains(name))
            {
                Add(path, $"'{name}' is not a declared service.");
            }
        }

        public void RequireTarget(PolicyTarget target, string path, bool servicesOnly)
        {
            if (target.Kind == "Service")
            {
                RequireService(target.Name, $"{path}.name");
            }
            else if (target.Kind == "Route" && !servicesOnly)
            {
                if (!Routes.Contains(target.Name))
                {
                    Add($"{path}.name", $"'{target.Name}' is not a declared route.");
                }
            }
            else
            {
                Add($"{path}.kind", servicesOnly ? $"'{target.Kind}' cannot be targeted here; use Service." : $"'{target.Kind}' is not Service or Route.");
            }
        }

        public TimeSpan? Duration(string? text, string path, bool optional)
        {
            if (text is null && optional)
            {
                return null;
            }

            if (!MeshDuration.TryParse(text, out var duration))
            {
                Add(path, $"'{text}' is not a duration such as 10s, 250ms or 1m30s.");
                return null;
            }

            if (duration <= TimeSpan.Zero)
            {
                Add(path, $"'{text}' must be longer than zero.");
                return null;
            }

            return duration;
        }

        public void Regex(string pattern, string path)
        {
            try
            {
                _ = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
            }
            catch (ArgumentException ex)
            {
                Add(path, $"'{pattern}' is not a valid regular expression: {ex.Message}");
            }
        }

        public void Percentage(double value, string path)
        {
            if (value is < 0 or > 100 || double.IsNaN(value))
            {
                Add(path, $"{value} is not a percentage (0-100).");
            }
        }

        public void AtLeast(int value, int minimum, string path)
        {
            if (value < minimum)
            {
                Add(path, $"{value} is less than {minimum}.");
            }
        }
    }
}
