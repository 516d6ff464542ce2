using System.Text.RegularExpressions;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.Contracts.Config;

/// <summary>Checks a <see cref="MeshConfig"/> and collects every error with its path; never stops at the first.</summary>
public static partial class MeshConfigValidator
{
    /// <summary>Returns all errors in <paramref name="config"/>; empty when it is valid.</summary>
    public static IReadOnlyList<ConfigError> Validate(MeshConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var errors = new List<ConfigError>();
        var services = new HashSet<string>(StringComparer.Ordinal);

        for (var i = 0; i < config.Services.Count; i++)
        {
            var path = $"services[{i}]";
            var service = config.Services[i];
            if (!IsDnsLabel(service.Name))
            {
                errors.Add(new($"{path}.name", $"'{service.Name}' is not a valid service name: use 1-63 lower-case letters, digits or '-', starting with a letter."));
            }
            else if (!services.Add(service.Name))
            {
                errors.Add(new($"{path}.name", $"service '{service.Name}' is declared more than once."));
            }
        }

        for (var i = 0; i < config.Services.Count; i++)
        {
            var references = config.Services[i].References;
            for (var r = 0; r < references.Count; r++)
            {
                if (!services.Contains(references[r]))
                {
                    errors.Add(new($"services[{i}].references[{r}]", $"service '{config.Services[i].Name}' references '{references[r]}', which is not a declared service."));
                }
            }
        }

        var routeNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < config.Routes.Count; i++)
        {
            ValidateRoute(config.Routes[i], $"routes[{i}]", services, routeNames, errors);
        }

        return errors;
    }

    private static void ValidateRoute(HttpRouteConfig route, string path, HashSet<string> services, HashSet<string> routeNames, List<ConfigError> errors)
    {
        if (string.IsNullOrWhiteSpace(route.Name))
        {
            errors.Add(new($"{path}.name", "a route needs a name."));
        }
        else if (!routeNames.Add(route.Name))
        {
            errors.Add(new($"{path}.name", $"route '{route.Name}' is declared more than once."));
        }

        if (route.ParentRefs.Count == 0)
        {
            errors.Add(new($"{path}.parentRefs", "a route must attach to at least one gateway."));
        }

        for (var p = 0; p < route.ParentRefs.Count; p++)
        {
            if (string.IsNullOrWhiteSpace(route.ParentRefs[p].Name))
            {
                errors.Add(new($"{path}.parentRefs[{p}].name", "a parent reference needs a gateway name."));
            }
        }

        if (route.Rules.Count == 0)
        {
            errors.Add(new($"{path}.rules", "a route needs at least one rule."));
        }

        for (var r = 0; r < route.Rules.Count; r++)
        {
            var rule = route.Rules[r];
            var rulePath = $"{path}.rules[{r}]";
            for (var m = 0; m < rule.Matches.Count; m++)
            {
                var match = rule.Matches[m].Path;
                if (match is null)
                {
                    continue;
                }

                var matchPath = $"{rulePath}.matches[{m}].path";
                if (match.Type is not (PathMatchTypes.Exact or PathMatchTypes.PathPrefix))
                {
                    errors.Add(new($"{matchPath}.type", $"'{match.Type}' is not a supported path match type; use Exact or PathPrefix."));
                }

                if (!match.Value.StartsWith('/'))
                {
                    errors.Add(new($"{matchPath}.value", $"'{match.Value}' must be an absolute path starting with '/'."));
                }
            }

            if (rule.BackendRefs.Count == 0)
            {
                errors.Add(new($"{rulePath}.backendRefs", "a rule needs at least one backend."));
            }

            var weightSum = 0L;
            for (var b = 0; b < rule.BackendRefs.Count; b++)
            {
                var backend = rule.BackendRefs[b];
                var backendPath = $"{rulePath}.backendRefs[{b}]";
                if (!services.Contains(backend.Name))
                {
                    errors.Add(new($"{backendPath}.name", $"'{backend.Name}' is not a declared service."));
                }

                if (backend.Weight < 0)
                {
                    errors.Add(new($"{backendPath}.weight", $"weight {backend.Weight} is negative."));
                }

                weightSum += Math.Max(0, backend.Weight);
            }

            if (rule.BackendRefs.Count > 0 && weightSum == 0)
            {
                errors.Add(new($"{rulePath}.backendRefs", "the backend weights sum to 0, so no request could be sent anywhere."));
            }
        }
    }

    /// <summary>Whether <paramref name="name"/> is an RFC 1123 DNS label starting with a letter.</summary>
    public static bool IsDnsLabel(string? name) => name is not null && DnsLabel().IsMatch(name);

    [GeneratedRegex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabel();
}
