using System.Globalization;
using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace AspireMesh.ProxyEngine.Routing;

/// <summary>A route's CORS filter, compiled once per snapshot: which origins it allows and the headers it answers with.</summary>
internal sealed class CorsPolicy
{
    private readonly bool _anyOrigin;
    private readonly CorsOrigin[] _origins;
    private readonly bool _anyMethod;
    private readonly string? _methods;
    private readonly bool _anyHeader;
    private readonly string? _headers;
    private readonly bool _exposeAll;
    private readonly string? _expose;
    private readonly string _maxAge;

    public CorsPolicy(CorsFilter filter)
    {
        _anyOrigin = filter.AllowOrigins.Contains("*");
        _origins = [.. filter.AllowOrigins.Select(CorsOrigin.Pattern).OfType<CorsOrigin>()];
        _anyMethod = filter.AllowMethods.Contains("*");
        _methods = filter.AllowMethods.Count > 0 && !_anyMethod ? string.Join(", ", filter.AllowMethods) : null;
        _anyHeader = filter.AllowHeaders.Contains("*");
        _headers = filter.AllowHeaders.Count > 0 && !_anyHeader ? string.Join(", ", filter.AllowHeaders) : null;
        _exposeAll = filter.ExposeHeaders.Contains("*");
        _expose = filter.ExposeHeaders.Count > 0 && !_exposeAll ? string.Join(", ", filter.ExposeHeaders) : null;
        Credentials = filter.AllowCredentials;
        _maxAge = filter.MaxAge.ToString(CultureInfo.InvariantCulture);
    }

    public bool Credentials { get; }

    /// <summary>Whether a request from <paramref name="origin"/> (its <c>Origin</c> header) may read the answer.</summary>
    public bool Allows(string origin) =>
        _anyOrigin || (CorsOrigin.Of(origin) is { } parsed && Array.Exists(_origins, o => o.Matches(parsed)));

    /// <summary>
    /// Answers a preflight (the proxy's own answer: 204, never forwarded). An origin not allowed gets no CORS headers, so
    /// the browser does not send the actual request.
    /// </summary>
    public void AnswerPreflight(HttpContext context, string origin)
    {
        var request = context.Request;
        var headers = context.Response.Headers;
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        headers.Vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
        if (!Allows(origin))
        {
            return;
        }

        // A preflight carries no credentials, but the request it asks for may: a wildcard cannot answer for that one.
        headers.AccessControlAllowOrigin = _anyOrigin && !Credentials ? "*" : origin;
        if (Credentials)
        {
            headers.AccessControlAllowCredentials = "true";
        }

        var methods = _anyMethod ? (Credentials ? request.Headers.AccessControlRequestMethod.ToString() : "*") : _methods;
        if (!string.IsNullOrEmpty(methods))
        {
            headers.AccessControlAllowMethods = methods;
        }

        var allowHeaders = _anyHeader ? (Credentials ? request.Headers.AccessControlRequestHeaders.ToString() : "*") : _headers;
        if (!string.IsNullOrEmpty(allowHeaders))
        {
            headers.AccessControlAllowHeaders = allowHeaders;
        }

        headers.AccessControlMaxAge = _maxAge;
    }

    /// <summary>
    /// The CORS headers of an actual request's response: the route's policy decides them, so the backend's own are
    /// replaced (removed for an origin the route does not allow).
    /// </summary>
    public void SetResponseHeaders(HttpContext context, string origin, bool allowed)
    {
        var headers = context.Response.Headers;
        headers.Remove("Access-Control-Allow-Origin");
        headers.Remove("Access-Control-Allow-Credentials");
        headers.Remove("Access-Control-Expose-Headers");
        headers.Vary = StringValues.Concat(headers.Vary, "Origin");
        if (!allowed)
        {
            return;
        }

        var credentialed = Credentials || context.Request.Headers.ContainsKey("Cookie") || context.Request.Headers.ContainsKey("Authorization");
        headers.AccessControlAllowOrigin = _anyOrigin && !credentialed ? "*" : origin;
        if (Credentials)
        {
            headers.AccessControlAllowCredentials = "true";
        }

        // "*" exposes every header only to requests without credentials; for those, the response's own names are listed.
        var expose = _exposeAll ? (credentialed ? string.Join(", ", headers.Keys.Where(k => !k.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase))) : "*") : _expose;
        if (!string.IsNullOrEmpty(expose))
        {
            headers.AccessControlExposeHeaders = expose;
        }
    }
}
