using System.CommandLine;

namespace AspireMesh.Cli;

/// <summary>The tap filters (the query of the control plane's /v1/tap) as command-line options.</summary>
internal static class TapFilters
{
    private static readonly (string Name, string Description)[] Filters =
    [
        ("service", "Only the proxies of this service (or gateway)."),
        ("method", "Only this HTTP method."),
        ("path", "Only paths starting with this."),
        ("authority", "Only this Host."),
        ("source", "Only requests from this service."),
        ("destination", "Only requests to this service."),
        ("direction", "Only inbound, outbound or ingress."),
        ("status", "Only this status (503) or class (5xx)."),
    ];

    public static IReadOnlyList<Option<string?>> Options() => [.. Filters.Select(f => new Option<string?>($"--{f.Name}") { Description = f.Description })];

    public static string Query(ParseResult result, IReadOnlyList<Option<string?>> options)
    {
        var pairs = options.Select(o => (Name: o.Name.TrimStart('-'), Value: result.GetValue(o)))
            .Where(p => !string.IsNullOrEmpty(p.Value))
            .Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}")
            .ToList();
        return pairs.Count == 0 ? "" : "?" + string.Join('&', pairs);
    }
}
