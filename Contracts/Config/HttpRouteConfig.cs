namespace AspireMesh.Contracts.Config;

/// <summary>An HTTPRoute: attaches to parents (gateways, or services for east-west traffic) and holds rules.</summary>
public sealed record HttpRouteConfig
{
    /// <summary>Unique route name.</summary>
    public string Name { get; set; } = "";

    /// <summary>What the route attaches to.</summary>
    public IReadOnlyList<ParentReference> ParentRefs { get; set; } = [];

    /// <summary>Host names the route answers for (gateway routes); empty means any.</summary>
    public IReadOnlyList<string> Hostnames { get; set; } = [];

    /// <summary>Rules, each with matches, filters and backends.</summary>
    public IReadOnlyList<HttpRouteRule> Rules { get; set; } = [];
}

/// <summary>A reference to what a route attaches to.</summary>
public sealed record ParentReference
{
    /// <summary><see cref="ParentKinds.Gateway"/> (default) or <see cref="ParentKinds.Service"/>.</summary>
    public string Kind { get; set; } = ParentKinds.Gateway;

    /// <summary>Gateway or service name.</summary>
    public string Name { get; set; } = "";
}

/// <summary>Kinds of route parent.</summary>
public static class ParentKinds
{
    /// <summary>An ingress gateway (north-south).</summary>
    public const string Gateway = "Gateway";

    /// <summary>A service: the route applies to calls made to it inside the mesh (east-west, as Gateway API's GAMMA).</summary>
    public const string Service = "Service";
}

/// <summary>A rule: requests matching any of <see cref="Matches"/> get <see cref="Filters"/> and go to <see cref="BackendRefs"/>.</summary>
public sealed record HttpRouteRule
{
    /// <summary>Alternative matches; empty means a PathPrefix match on '/'.</summary>
    public IReadOnlyList<HttpRouteMatch> Matches { get; set; } = [];

    /// <summary>Filters applied in order.</summary>
    public IReadOnlyList<HttpRouteFilter> Filters { get; set; } = [];

    /// <summary>Weighted backends (services); a redirect-only rule may have none.</summary>
    public IReadOnlyList<BackendReference> BackendRefs { get; set; } = [];

    /// <summary>Timeouts.</summary>
    public HttpRouteTimeouts? Timeouts { get; set; }

    /// <summary>Retry policy.</summary>
    public HttpRouteRetry? Retry { get; set; }
}

/// <summary>One match; every part given must hold.</summary>
public sealed record HttpRouteMatch
{
    /// <summary>Path match.</summary>
    public HttpPathMatch? Path { get; set; }

    /// <summary>Header matches.</summary>
    public IReadOnlyList<HttpValueMatch> Headers { get; set; } = [];

    /// <summary>Query parameter matches.</summary>
    public IReadOnlyList<HttpValueMatch> QueryParams { get; set; } = [];

    /// <summary>HTTP method, e.g. <c>GET</c>.</summary>
    public string? Method { get; set; }
}

/// <summary>A path match.</summary>
public sealed record HttpPathMatch
{
    /// <summary><c>Exact</c>, <c>PathPrefix</c> or <c>RegularExpression</c>.</summary>
    public string Type { get; set; } = MatchTypes.PathPrefix;

    /// <summary>An absolute path starting with '/', or a regular expression.</summary>
    public string Value { get; set; } = "/";
}

/// <summary>A header or query parameter match.</summary>
public sealed record HttpValueMatch
{
    /// <summary><c>Exact</c> (default) or <c>RegularExpression</c>.</summary>
    public string Type { get; set; } = MatchTypes.Exact;

    /// <summary>Header or parameter name.</summary>
    public string Name { get; set; } = "";

    /// <summary>The value, or a regular expression.</summary>
    public string Value { get; set; } = "";
}

/// <summary>Gateway API match types.</summary>
public static class MatchTypes
{
    /// <summary>Equal to the value.</summary>
    public const string Exact = "Exact";

    /// <summary>The path equals the value or continues it after a '/'.</summary>
    public const string PathPrefix = "PathPrefix";

    /// <summary>Matches a regular expression (.NET syntax, whole value).</summary>
    public const string RegularExpression = "RegularExpression";
}

/// <summary>A filter; <see cref="Type"/> says which of the other properties is set.</summary>
public sealed record HttpRouteFilter
{
    /// <summary>One of <see cref="FilterTypes"/>.</summary>
    public string Type { get; set; } = "";

    /// <summary>For <c>RequestHeaderModifier</c>.</summary>
    public HeaderModifier? RequestHeaderModifier { get; set; }

    /// <summary>For <c>ResponseHeaderModifier</c>.</summary>
    public HeaderModifier? ResponseHeaderModifier { get; set; }

    /// <summary>For <c>RequestRedirect</c>.</summary>
    public RequestRedirect? RequestRedirect { get; set; }

    /// <summary>For <c>URLRewrite</c>.</summary>
    public UrlRewrite? UrlRewrite { get; set; }

    /// <summary>For <c>RequestMirror</c>.</summary>
    public RequestMirror? RequestMirror { get; set; }

    /// <summary>For <c>FaultInjection</c> (an AspireMesh extension).</summary>
    public FaultInjection? FaultInjection { get; set; }

    /// <summary>For <c>CORS</c> (Gateway API's HTTPCORSFilter).</summary>
    public CorsFilter? Cors { get; set; }
}

/// <summary>
/// Cross-origin resource sharing, answered by the proxy (Gateway API's <c>HTTPCORSFilter</c>): preflight requests are
/// answered without reaching the backend (nor its authentication), and the CORS headers of actual requests' responses
/// are the proxy's.
/// </summary>
public sealed record CorsFilter
{
    /// <summary>Origins allowed: <c>scheme://host[:port]</c>, the host's left-most label may be <c>*</c> (any labels), or <c>*</c> alone (any origin).</summary>
    public IReadOnlyList<string> AllowOrigins { get; set; } = [];

    /// <summary>Methods a preflight allows (<c>*</c>: any); GET, HEAD and POST are always allowed.</summary>
    public IReadOnlyList<string> AllowMethods { get; set; } = [];

    /// <summary>Request headers a preflight allows (<c>*</c>: any).</summary>
    public IReadOnlyList<string> AllowHeaders { get; set; } = [];

    /// <summary>Response headers the page may read (<c>*</c>: all).</summary>
    public IReadOnlyList<string> ExposeHeaders { get; set; } = [];

    /// <summary>Whether credentialed requests (cookies, Authorization) may read the response.</summary>
    public bool AllowCredentials { get; set; }

    /// <summary>How long, in seconds, a browser may cache a preflight's answer (Gateway API's default: 5).</summary>
    public int MaxAge { get; set; } = 5;
}

/// <summary>Filter types.</summary>
public static class FilterTypes
{
    /// <summary>Adds, sets or removes request headers.</summary>
    public const string RequestHeaderModifier = "RequestHeaderModifier";

    /// <summary>Adds, sets or removes response headers.</summary>
    public const string ResponseHeaderModifier = "ResponseHeaderModifier";

    /// <summary>Answers with a redirect.</summary>
    public const string RequestRedirect = "RequestRedirect";

    /// <summary>Rewrites host or path before forwarding.</summary>
    public const string UrlRewrite = "URLRewrite";

    /// <summary>Sends a copy of the request to another backend; its answer is ignored.</summary>
    public const string RequestMirror = "RequestMirror";

    /// <summary>Delays or aborts a share of requests.</summary>
    public const string FaultInjection = "FaultInjection";

    /// <summary>Answers cross-origin (CORS) preflights and sets the CORS headers of responses.</summary>
    public const string Cors = "CORS";

    /// <summary>All filter types.</summary>
    public static readonly IReadOnlyList<string> All = [RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, UrlRewrite, RequestMirror, FaultInjection, Cors];
}

/// <summary>Header changes.</summary>
public sealed record HeaderModifier
{
    /// <summary>Headers to set (replacing any value).</summary>
    public IReadOnlyList<HeaderValue> Set { get; set; } = [];

    /// <summary>Headers to append.</summary>
    public IReadOnlyList<HeaderValue> Add { get; set; } = [];

    /// <summary>Header names to remove.</summary>
    public IReadOnlyList<string> Remove { get; set; } = [];
}

/// <summary>A header name and value.</summary>
public sealed record HeaderValue
{
    /// <summary>Name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Value.</summary>
    public string Value { get; set; } = "";
}

/// <summary>A redirect answer.</summary>
public sealed record RequestRedirect
{
    /// <summary><c>http</c> or <c>https</c>; unset keeps the request's.</summary>
    public string? Scheme { get; set; }

    /// <summary>Host; unset keeps the request's.</summary>
    public string? Hostname { get; set; }

    /// <summary>Port; unset keeps the scheme's default.</summary>
    public int? Port { get; set; }

    /// <summary>Path change.</summary>
    public PathModifier? Path { get; set; }

    /// <summary>301 or 302 (default), 303, 307, 308.</summary>
    public int StatusCode { get; set; } = 302;
}

/// <summary>A rewrite before forwarding.</summary>
public sealed record UrlRewrite
{
    /// <summary>Host header to send.</summary>
    public string? Hostname { get; set; }

    /// <summary>Path change.</summary>
    public PathModifier? Path { get; set; }
}

/// <summary>How a path is changed.</summary>
public sealed record PathModifier
{
    /// <summary><c>ReplaceFullPath</c> or <c>ReplacePrefixMatch</c>.</summary>
    public string Type { get; set; } = "";

    /// <summary>For ReplaceFullPath.</summary>
    public string? ReplaceFullPath { get; set; }

    /// <summary>For ReplacePrefixMatch (the rule's matches must be PathPrefix).</summary>
    public string? ReplacePrefixMatch { get; set; }
}

/// <summary>Mirrors requests to a backend.</summary>
public sealed record RequestMirror
{
    /// <summary>The service that receives the copies.</summary>
    public BackendReference BackendRef { get; set; } = new();

    /// <summary>Share of requests mirrored, 0-100.</summary>
    public double Percent { get; set; } = 100;
}

/// <summary>Delays and aborts a share of requests (for resilience testing).</summary>
public sealed record FaultInjection
{
    /// <summary>Delay.</summary>
    public FaultDelay? Delay { get; set; }

    /// <summary>Abort.</summary>
    public FaultAbort? Abort { get; set; }
}

/// <summary>A fixed delay on a share of requests.</summary>
public sealed record FaultDelay
{
    /// <summary>Duration, e.g. <c>200ms</c>.</summary>
    public string FixedDelay { get; set; } = "";

    /// <summary>Share of requests, 0-100.</summary>
    public double Percentage { get; set; } = 100;
}

/// <summary>An abort with a status on a share of requests.</summary>
public sealed record FaultAbort
{
    /// <summary>Status answered, 200-599.</summary>
    public int HttpStatus { get; set; } = 503;

    /// <summary>Share of requests, 0-100.</summary>
    public double Percentage { get; set; } = 100;
}

/// <summary>A backend of a rule: a declared service.</summary>
public sealed record BackendReference
{
    /// <summary>Service name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Relative weight among the rule's backends (0 disables it).</summary>
    public int Weight { get; set; } = 1;
}

/// <summary>Route timeouts (durations such as <c>10s</c>, <c>250ms</c>).</summary>
public sealed record HttpRouteTimeouts
{
    /// <summary>The whole request, retries included.</summary>
    public string? Request { get; set; }

    /// <summary>Each attempt to a backend.</summary>
    public string? BackendRequest { get; set; }
}

/// <summary>Retries of a rule.</summary>
public sealed record HttpRouteRetry
{
    /// <summary>Attempts in all, the first included (1-10).</summary>
    public int Attempts { get; set; } = 2;

    /// <summary>Statuses that are retried, e.g. 503.</summary>
    public IReadOnlyList<int> Codes { get; set; } = [];

    /// <summary>Failure conditions that are retried: <c>connect-failure</c>, <c>reset</c>, <c>timeout</c>.</summary>
    public IReadOnlyList<string> Conditions { get; set; } = ["connect-failure"];

    /// <summary>Base of the exponential backoff between attempts.</summary>
    public string Backoff { get; set; } = "25ms";

    /// <summary>Whether requests with non-idempotent methods (POST, PATCH) are retried too.</summary>
    public bool AllowNonIdempotent { get; set; }

    /// <summary>Retry conditions.</summary>
    public static readonly IReadOnlyList<string> KnownConditions = ["connect-failure", "reset", "timeout"];
}
