namespace AspireMesh.Contracts.Config;

/// <summary>The mesh's policies, by kind.</summary>
public sealed record PoliciesConfig
{
    /// <summary>How calls to a service are balanced, checked and limited.</summary>
    public IReadOnlyList<BackendPolicy> Backends { get; set; } = [];

    /// <summary>Local rate limits.</summary>
    public IReadOnlyList<RateLimitPolicy> RateLimits { get; set; } = [];

    /// <summary>Who may call what.</summary>
    public IReadOnlyList<AuthorizationPolicy> Authorization { get; set; } = [];

    /// <summary>Which hosts outside the mesh may be called.</summary>
    public IReadOnlyList<EgressPolicy> Egress { get; set; } = [];

    /// <summary>Credentials gateways require of clients (JWT or API key), per gateway or per route.</summary>
    public IReadOnlyList<AuthenticationPolicy> Authentication { get; set; } = [];
}

/// <summary>What a policy applies to.</summary>
public sealed record PolicyTarget
{
    /// <summary><c>Service</c> (default), <c>Route</c> or (for authentication) <c>Gateway</c>.</summary>
    public string Kind { get; set; } = "Service";

    /// <summary>Service or route name.</summary>
    public string Name { get; set; } = "";
}

/// <summary>Load balancing, outlier detection, health checks and limits for calls to one service.</summary>
public sealed record BackendPolicy
{
    /// <summary>Unique policy name.</summary>
    public string Name { get; set; } = "";

    /// <summary>The service.</summary>
    public PolicyTarget TargetRef { get; set; } = new();

    /// <summary>Load balancer.</summary>
    public LoadBalancerConfig? LoadBalancer { get; set; }

    /// <summary>Ejection of failing endpoints.</summary>
    public OutlierDetectionConfig? OutlierDetection { get; set; }

    /// <summary>Active health checks.</summary>
    public HealthCheckConfig? HealthCheck { get; set; }

    /// <summary>Connection limits.</summary>
    public ConnectionLimitsConfig? ConnectionLimits { get; set; }

    /// <summary>Ramp-up for new endpoints, e.g. <c>30s</c>.</summary>
    public string? SlowStart { get; set; }

    /// <summary>Caps retries to a share of requests.</summary>
    public RetryBudgetConfig? RetryBudget { get; set; }
}

/// <summary>A load-balancing policy.</summary>
public sealed record LoadBalancerConfig
{
    /// <summary><c>RoundRobin</c>, <c>LeastRequest</c>, <c>PowerOfTwoChoices</c> (default) or <c>ConsistentHash</c>.</summary>
    public string Type { get; set; } = "PowerOfTwoChoices";

    /// <summary>For ConsistentHash: the header whose value is hashed.</summary>
    public string? HashHeader { get; set; }

    /// <summary>For ConsistentHash: the cookie whose value is hashed.</summary>
    public string? HashCookie { get; set; }

    /// <summary>Known types.</summary>
    public static readonly IReadOnlyList<string> Types = ["RoundRobin", "LeastRequest", "PowerOfTwoChoices", "ConsistentHash"];
}

/// <summary>Outlier detection.</summary>
public sealed record OutlierDetectionConfig
{
    /// <summary>Consecutive failures that eject an endpoint.</summary>
    public int ConsecutiveFailures { get; set; } = 5;

    /// <summary>How long the first ejection lasts; later ones grow.</summary>
    public string BaseEjectionTime { get; set; } = "30s";

    /// <summary>Most endpoints ejected at once, in percent.</summary>
    public int MaxEjectionPercent { get; set; } = 50;
}

/// <summary>Active health checks against each endpoint.</summary>
public sealed record HealthCheckConfig
{
    /// <summary>Path, e.g. <c>/health</c>.</summary>
    public string Path { get; set; } = "/health";

    /// <summary>Between checks.</summary>
    public string Interval { get; set; } = "10s";

    /// <summary>Per check.</summary>
    public string Timeout { get; set; } = "2s";

    /// <summary>Failures in a row that mark an endpoint unhealthy.</summary>
    public int UnhealthyThreshold { get; set; } = 3;
}

/// <summary>Connection limits.</summary>
public sealed record ConnectionLimitsConfig
{
    /// <summary>Connections per endpoint.</summary>
    public int MaxConnections { get; set; } = 100;

    /// <summary>Requests waiting for a connection.</summary>
    public int MaxPendingRequests { get; set; } = 100;
}

/// <summary>A retry budget: retries at most <see cref="Percent"/> of requests, plus a floor per second.</summary>
public sealed record RetryBudgetConfig
{
    /// <summary>Percent of requests, 0-100.</summary>
    public double Percent { get; set; } = 20;

    /// <summary>Retries always allowed per second.</summary>
    public int MinRetriesPerSecond { get; set; } = 10;
}

/// <summary>A token-bucket rate limit on a route or service.</summary>
public sealed record RateLimitPolicy
{
    /// <summary>Unique policy name.</summary>
    public string Name { get; set; } = "";

    /// <summary>The route or service.</summary>
    public PolicyTarget TargetRef { get; set; } = new();

    /// <summary>Requests allowed per <see cref="Period"/>.</summary>
    public int Requests { get; set; }

    /// <summary>Refill period, e.g. <c>1s</c>.</summary>
    public string Period { get; set; } = "1s";

    /// <summary>Bucket size; defaults to <see cref="Requests"/>.</summary>
    public int? Burst { get; set; }

    /// <summary><c>Target</c> (one bucket) or <c>Source</c> (one per calling identity).</summary>
    public string Per { get; set; } = "Target";
}

/// <summary>Allows or denies calls to a service by source identity, path, method and header.</summary>
public sealed record AuthorizationPolicy
{
    /// <summary>Unique policy name.</summary>
    public string Name { get; set; } = "";

    /// <summary>The protected service.</summary>
    public PolicyTarget TargetRef { get; set; } = new();

    /// <summary><c>Allow</c> or <c>Deny</c>.</summary>
    public string Action { get; set; } = "Allow";

    /// <summary><c>Enforce</c> (default) or <c>Audit</c> (log what would be denied).</summary>
    public string Mode { get; set; } = "Enforce";

    /// <summary>
    /// The requests the action applies to (any rule). A policy without rules matches no request: an <c>Allow</c>
    /// policy without rules therefore allows nothing, which makes its service deny every caller no other Allow policy names.
    /// </summary>
    public IReadOnlyList<AuthorizationRule> Rules { get; set; } = [];
}

/// <summary>One authorization rule; every part given must hold (any of its values), and a rule with no parts matches every request.</summary>
public sealed record AuthorizationRule
{
    /// <summary>Calling services (by name), or <c>gateway/name</c> for a gateway.</summary>
    public IReadOnlyList<string> FromServices { get; set; } = [];

    /// <summary>Calling identities (SPIFFE IDs, exact or ending in <c>*</c>); only a proved identity matches.</summary>
    public IReadOnlyList<string> FromPrincipals { get; set; } = [];

    /// <summary>
    /// End users, as Istio's <c>requestPrincipals</c>: <c>iss/sub</c> of the JWT the service's authentication policy
    /// checked (exact, or ending in <c>*</c>, e.g. <c>https://login.example.com/*</c>); a request without one never matches.
    /// </summary>
    public IReadOnlyList<string> RequestPrincipals { get; set; } = [];

    /// <summary>Paths (exact, or prefix ending in <c>*</c>).</summary>
    public IReadOnlyList<string> Paths { get; set; } = [];

    /// <summary>Methods.</summary>
    public IReadOnlyList<string> Methods { get; set; } = [];

    /// <summary>Header conditions.</summary>
    public IReadOnlyList<HttpValueMatch> Headers { get; set; } = [];
}

/// <summary>Hosts outside the mesh that services may call.</summary>
public sealed record EgressPolicy
{
    /// <summary>Unique policy name.</summary>
    public string Name { get; set; } = "";

    /// <summary>Host names (a leading <c>*.</c> matches subdomains).</summary>
    public IReadOnlyList<string> Hosts { get; set; } = [];

    /// <summary>Port.</summary>
    public int Port { get; set; } = 443;

    /// <summary><c>Originate</c> (the mesh opens TLS to the host) or <c>None</c>.</summary>
    public string Tls { get; set; } = "Originate";

    /// <summary>Services allowed; empty means all.</summary>
    public IReadOnlyList<string> FromServices { get; set; } = [];

    /// <summary>
    /// With <c>tls: Originate</c>, certificate authorities trusted for these hosts besides the system's: PEM text
    /// (one or more <c>-----BEGIN CERTIFICATE-----</c> blocks) or the absolute path of a PEM file, read by the proxy.
    /// </summary>
    public string? CaCertificate { get; set; }

    /// <summary>The <see cref="Tls"/> modes.</summary>
    public static readonly IReadOnlyList<string> TlsModes = ["Originate", "None"];
}
