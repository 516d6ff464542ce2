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

    /// <summary>
    /// Whether a request from <paramref name="origin"/> (its one <c>Origin</c> header) may read the answer. With
    /// credentials, only a real origin (never <c>null</c>, which sandboxed frames and files send) is reflected.
    /// </summary>
    public bool Allows(string? origin) =>
        origin is not null && ((_anyOrigin && !Credentials) || (CorsOrigin.Of(origin) is { } parsed && (_anyOrigin || Array.Exists(_origins, o => o.Matches(parsed)))));

    /// <summary>
    /// Answers a preflight (the proxy's own answer: 204, never forwarded). An origin not allowed gets no CORS headers, so
    /// the browser does not send the actual request.
    /// </summary>
    public void AnswerPreflight(HttpContext context, string? origin)
    {
        var request = context.Request;
        var headers = context.Response.Headers;
        context.Response.StatusCode = StatusCodes.Status204NoContent;
        headers.Vary = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
        if (origin is null || !Allows(origin))
        {
            return;
        }

        // A preflight carries no credentials, but the request it asks for may: a wildcard cannot answer for that one.
        headers.AccessControlAllowOrigin = _anyOrigin && !Credentials ? "*" : origin;
        if (Credentials)
        {
            headers.AccessControlAllowCredentials = "true";
        }

        // "*" answered with what was asked: browsers take a literal "*" only without credentials, and never for
        // Authorization, which must be named.
        var methods = _anyMethod ? request.Headers.AccessControlRequestMethod.ToString() : _methods;
        if (!string.IsNullOrEmpty(methods))
        {
            headers.AccessControlAllowMethods = methods;
        }

        var allowHeaders = _anyHeader ? request.Headers.AccessControlRequestHeaders.ToString() : _headers;
        if (!string.IsNullOrEmpty(allowHeaders))
        {
            headers.AccessControlAllowHeaders = allowHeaders;
        }

        headers.AccessControlMaxAge = _maxAge;
    }

    /// <summary>
    /// The CORS headers of an actual request's response, whatever the request (with no <c>Origin</c>, or several, none
    /// are allowed): the route's policy decides them, so the app's own are replaced, and the answer varies by origin.
    /// </summary>
    public void SetResponseHeaders(HttpContext context, string? origin, bool allowed)
    {
        var headers = context.Response.Headers;
        headers.Remove("Access-Control-Allow-Origin");
        headers.Remove("Access-Control-Allow-Credentials");
        headers.Remove("Access-Control-Expose-Headers");
        AddVaryOrigin(headers);
        if (!allowed || origin is null)
        {
            return;
        }

        headers.AccessControlAllowOrigin = _anyOrigin && !Credentials ? "*" : origin;
        if (Credentials)
        {
            headers.AccessControlAllowCredentials = "true";
        }

        // "*" exposes every header only without credentials; with them, the response's own names are listed. An error
        // the proxy produced names itself in x-mesh-error, which the page may read too.
        var expose = _exposeAll
            ? (Credentials ? string.Join(", ", headers.Keys.Where(k => !k.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase))) : "*")
            : _expose;
        if (!_exposeAll && headers.ContainsKey(MeshHeaders.Error) && !(_expose ?? "").Split(", ").Contains(MeshHeaders.Error, StringComparer.OrdinalIgnoreCase))
        {
            expose = expose is null ? MeshHeaders.Error : $"{expose}, {MeshHeaders.Error}";
        }

        if (!string.IsNullOrEmpty(expose))
        {
            headers.AccessControlExposeHeaders = expose;
        }
    }

    /// <summary>Adds <c>Origin</c> to <c>Vary</c> unless it is there already (or <c>Vary: *</c>).</summary>
    private static void AddVaryOrigin(IHeaderDictionary headers)
    {
        foreach (var value in headers.Vary)
        {
            foreach (var token in (value ?? "").Split(','))
            {
                if (token.Trim() is "*" || token.Trim().Equals("Origin", StringComparison.OrdinalIgnoreCase))
                {
                    return;
                }
            }
        }

        headers.Vary = StringValues.Concat(headers.Vary, "Origin");
    }
}
