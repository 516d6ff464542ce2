using System.Globalization;

namespace AspireMesh.Contracts.Config;

/// <summary>
/// An origin a CORS filter allows, as Gateway API writes it: <c>*</c> (any), or <c>scheme://host[:port]</c> with scheme
/// <c>http</c> or <c>https</c>, whose host may begin with <c>*</c> (any number of labels to its left, at least one).
/// Matched against a request's <c>Origin</c> header with the scheme's default port made explicit and case ignored.
/// </summary>
public sealed class CorsOrigin
{
    private CorsOrigin(string scheme, string host, int port, bool wildcard)
    {
        Scheme = scheme;
        Host = host;
        Port = port;
        Wildcard = wildcard;
    }

    /// <summary><c>http</c> or <c>https</c>.</summary>
    public string Scheme { get; }

    /// <summary>The host, lower case; for a wildcard, the suffix after the <c>*</c> (starting with a dot).</summary>
    public string Host { get; }

    /// <summary>The port, the scheme's default when none was written.</summary>
    public int Port { get; }

    /// <summary>Whether the host began with <c>*</c>.</summary>
    public bool Wildcard { get; }

    /// <summary>Why <paramref name="text"/> is not an allowed-origin pattern, or null when it is (<c>*</c> included).</summary>
    public static string? Problem(string text) => text == "*" ? null : Parse(text, pattern: true, out _);

    /// <summary>The pattern <paramref name="text"/>; null for <c>*</c>. Throws when it is not one (validate first).</summary>
    public static CorsOrigin? Pattern(string text) =>
        text == "*" ? null : Parse(text, pattern: true, out var origin) is { } problem ? throw new FormatException(problem) : origin;

    /// <summary>A request's <c>Origin</c> header as an origin; null when it is not one (<c>null</c>, a path, another scheme).</summary>
    public static CorsOrigin? Of(string header) => Parse(header, pattern: false, out var origin) is null ? origin : null;

    /// <summary>Whether the request's <paramref name="origin"/> matches this pattern.</summary>
    public bool Matches(CorsOrigin origin)
    {
        ArgumentNullException.ThrowIfNull(origin);
        return origin.Scheme == Scheme && origin.Port == Port
            && (Wildcard ? origin.Host.Length > Host.Length && origin.Host.EndsWith(Host, StringComparison.Ordinal) : origin.Host == Host);
    }

    private static string? Parse(string text, bool pattern, out CorsOrigin? origin)
    {
        origin = null;
        var separator = text.IndexOf("://", StringComparison.Ordinal);
        if (separator < 0)
        {
            return "is not an origin (scheme://host[:port])";
        }

        var scheme = text[..separator].ToLowerInvariant();
        if (scheme is not ("http" or "https"))
        {
            return $"has the scheme '{text[..separator]}'; an origin is http:// or https://";
        }

        var authority = text[(separator + 3)..];
        if (authority.IndexOfAny(['/', '?', '#', '@']) >= 0)
        {
            return "has more than scheme://host[:port] (a path, a query or user information)";
        }

        var port = scheme == "https" ? 443 : 80;
        var host = authority;
        var colon = authority.LastIndexOf(':');
        if (colon >= 0 && colon > authority.LastIndexOf(']'))
        {
            if (!int.TryParse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
            {
                return $"has the port '{authority[(colon + 1)..]}'; a port is 1-65535";
            }

            host = authority[..colon];
        }

        host = host.ToLowerInvariant();
        var wildcard = pattern && host.StartsWith('*');
        if (wildcard)
        {
            host = host[1..];
            if (host.Length == 0)
            {
                origin = new CorsOrigin(scheme, "", port, wildcard: true);
                return null;
            }

            if (!host.StartsWith('.'))
            {
                return "has a '*' that is not a whole label (write *.example.com)";
            }
        }

        var checkedHost = wildcard ? host[1..] : host;
        if (checkedHost.Length == 0 || Uri.CheckHostName(checkedHost.Trim('[', ']')) == UriHostNameType.Unknown || checkedHost.Contains('*', StringComparison.Ordinal))
        {
            return $"has the host '{(wildcard ? "*" : "")}{checkedHost}', which is not a host name or address";
        }

        // An address in the form browsers serialize it ([::1], not [0:0::1]), so that patterns and Origins compare.
        if (!wildcard && host.StartsWith('[') && System.Net.IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            host = $"[{address}]";
        }

        origin = new CorsOrigin(scheme, host, port, wildcard);
        return null;
    }
}
