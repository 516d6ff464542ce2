namespace AspireMesh.ProxyEngine;

/// <summary>Headers the mesh adds to responses.</summary>
public static class MeshHeaders
{
    /// <summary>On a response the mesh itself produced: the reason, one of <see cref="MeshErrors"/>.</summary>
    public const string Error = "x-mesh-error";

    /// <summary>
    /// On every request a proxy forwards: the service (or <c>gateway/name</c>) it comes from. Set by the proxy, replacing
    /// any value the caller sent.
    /// </summary>
    public const string Source = "x-mesh-source";

    /// <summary>
    /// On a request a proxy forwards over mTLS to another proxy: the Host the request is for (the caller's, or a route's
    /// URLRewrite hostname), which the receiving sidecar gives back to its app. The hop itself carries the endpoint's
    /// address as Host, so that its TLS server name and connection pool are the endpoint's whatever Host a client sends.
    /// </summary>
    public const string Authority = "x-mesh-authority";

    /// <summary>On every response that an application produced: the instance that served it.</summary>
    public const string Instance = "x-mesh-instance";

    /// <summary>
    /// On a <see cref="MeshErrors.Denied"/> answer: the authorization policy that denied the request, or, when no Allow
    /// policy matched it, the names of the service's Allow policies (comma-separated).
    /// </summary>
    public const string DeniedBy = "x-mesh-denied-by";
}

/// <summary>Well-known values of <see cref="MeshHeaders.Error"/>, so mesh errors are told apart from the app's.</summary>
public static class MeshErrors
{
    /// <summary>No route matched the request (404).</summary>
    public const string NoRoute = "no-route";

    /// <summary>
    /// The proxy has had no configuration (routes and policies) from the control plane yet, and waited for it as long as
    /// it holds a request (503); the request went no further, so peers retry elsewhere.
    /// </summary>
    public const string NotConfigured = "not-configured";

    /// <summary>The target service has no healthy instance (503).</summary>
    public const string NoHealthyEndpoint = "no-healthy-endpoint";

    /// <summary>Every endpoint tried failed at the transport level (503).</summary>
    public const string UpstreamUnavailable = "upstream-unavailable";

    /// <summary>The sidecar could not reach its own application (503); the request never reached it, so peers retry elsewhere.</summary>
    public const string AppUnavailable = "app-unavailable";

    /// <summary>The upstream did not answer in time (504).</summary>
    public const string Timeout = "timeout";

    /// <summary>The upstream failed in a way the mesh does not classify further (502).</summary>
    public const string UpstreamError = "upstream-error";

    /// <summary>A rate limit refused the request (429, with Retry-After).</summary>
    public const string RateLimited = "rate-limited";

    /// <summary>The service already has as many requests in flight as its connection limits allow (503).</summary>
    public const string CircuitOpen = "circuit-open";

    /// <summary>An attempt failed and the backend's retry budget allowed no retry (503).</summary>
    public const string RetryBudgetExhausted = "retry-budget-exhausted";

    /// <summary>A fault-injection filter aborted the request on purpose.</summary>
    public const string FaultInjected = "fault-injected";

    /// <summary>An authorization policy of the called service refused the caller (403, with <see cref="MeshHeaders.DeniedBy"/>).</summary>
    public const string Denied = "denied";

    /// <summary>An app called a host outside the mesh (plain HTTP or a CONNECT tunnel) that no egress policy allows it (403).</summary>
    public const string EgressDenied = "egress-denied";

    /// <summary>A plaintext request reached a sidecar whose service takes mTLS callers only (403).</summary>
    public const string MtlsRequired = "mtls-required";

    /// <summary>The request uses a feature the proxy does not offer (501).</summary>
    public const string NotSupported = "not-supported";

    /// <summary>The request is malformed or ambiguous in a way a proxy must not pass on (400).</summary>
    public const string BadRequest = "bad-request";

    /// <summary>The request's headers are larger than the listener allows (431).</summary>
    public const string HeadersTooLarge = "headers-too-large";

    /// <summary>The request's target (path and query) is longer than the listener allows (414).</summary>
    public const string UriTooLong = "uri-too-long";

    /// <summary>The request's body is larger than the listener allows (413).</summary>
    public const string RequestTooLarge = "request-too-large";

    /// <summary>The request carries no credential, or one that is not valid, for a route that requires one (401).</summary>
    public const string Unauthenticated = "unauthenticated";
}
