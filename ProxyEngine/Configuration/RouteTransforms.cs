using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ProxyEngine.Configuration;

/// <summary>Gateway API header-modifier and URL-rewrite filters as YARP transform entries.</summary>
internal static class RouteTransforms
{
    public static IReadOnlyList<IReadOnlyDictionary<string, string>>? From(RouteSnapshot route)
    {
        var transforms = new List<IReadOnlyDictionary<string, string>>();
        foreach (var filter in route.Filters)
        {
            if (filter.RequestHeaderModifier is { } request)
            {
                transforms.AddRange(request.Set.Select(h => Entry("RequestHeader", h.Name, "Set", h.Value)));
                transforms.AddRange(request.Add.Select(h => Entry("RequestHeader", h.Name, "Append", h.Value)));
                transforms.AddRange(request.Remove.Select(name => Entry("RequestHeaderRemove", name)));
            }

            if (filter.ResponseHeaderModifier is { } response)
            {
                transforms.AddRange(response.Set.Select(h => Entry("ResponseHeader", h.Name, "Set", h.Value, "When", "Always")));
                transforms.AddRange(response.Add.Select(h => Entry("ResponseHeader", h.Name, "Append", h.Value, "When", "Always")));
                transforms.AddRange(response.Remove.Select(name => Entry("ResponseHeaderRemove", name, "When", "Always")));
            }

            if (filter.UrlRewrite is { } rewrite)
            {
                if (rewrite.Hostname is { } host)
                {
                    transforms.Add(Entry("RequestHeaderOriginalHost", "false"));
                    transforms.Add(Entry("RequestHeader", "Host", "Set", host));
                }

                switch (rewrite.Path)
                {
                    case { Type: "ReplaceFullPath", ReplaceFullPath: { } full }:
                        transforms.Add(Entry("PathSet", full));
                        break;
                    case { Type: "ReplacePrefixMatch", ReplacePrefixMatch: { } prefix } when route.Path is { Type: PathMatchTypes.PathPrefix } match:
                        var matched = match.Value.TrimEnd('/');
                        if (matched.Length > 0)
                        {
                            transforms.Add(Entry("PathRemovePrefix", matched));
                        }

                        var replacement = prefix.TrimEnd('/');
                        if (replacement.Length > 0)
                        {
                            transforms.Add(Entry("PathPrefix", replacement));
                        }

                        break;
                }
            }
        }

        return transforms.Count == 0 ? null : transforms;
    }

    private static Dictionary<string, string> Entry(params string[] pairs)
    {
        var entry = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < pairs.Length; i += 2)
        {
            entry[pairs[i]] = pairs[i + 1];
        }

        return entry;
    }
}
