using System.Text.Json;
using AspireMesh.Contracts.Config;
using FsCheck;
using FsCheck.Fluent;

namespace AspireMesh.Contracts.Tests.Config;

/// <summary>Properties of the parser over generated documents.</summary>
public sealed class MeshConfigParserProperties
{
    /// <summary>300 cases per property; set FSCHECK_MAX_TEST for a longer hunt.</summary>
    private static readonly FsCheck.Config Runs = FsCheck.Config.QuickThrowOnFailure.WithMaxTest(
        int.TryParse(Environment.GetEnvironmentVariable("FSCHECK_MAX_TEST"), out var max) ? max : 300);

    private static Gen<string> Name => Gen.Elements("frontend", "catalog", "inventory", "orders", "payments", "a", "svc-2");

    private static Gen<MeshConfig> ValidConfigs =>
        from names in Gen.SubListOf(new[] { "frontend", "catalog", "inventory", "orders", "payments" }).Where(n => n.Count > 0)
        from routeCount in Gen.Choose(0, 4)
        from prefixes in Gen.ListOf(Gen.Elements("/", "/api", "/v1/items", "/a b", "/ünï"), routeCount)
        from weights in Gen.ListOf(Gen.Choose(1, 100), routeCount)
        from backends in Gen.ListOf(Gen.Elements(names.ToArray()), routeCount)
        from exact in Gen.ListOf(Gen.Elements(true, false), routeCount)
        select new MeshConfig
        {
            Services = [.. names.Select((n, i) => new ServiceConfig { Name = n, References = i > 0 ? [names[i - 1]] : [] })],
            Routes = [.. Enumerable.Range(0, routeCount).Select(i => new HttpRouteConfig
            {
                Name = $"route-{i}",
                ParentRefs = [new() { Name = "gateway" }],
                Rules = [new()
                {
                    Matches = [new() { Path = new() { Type = exact[i] ? MatchTypes.Exact : MatchTypes.PathPrefix, Value = $"{prefixes[i]}/{i}" } }],
                    BackendRefs = [new() { Name = backends[i], Weight = weights[i] }],
                    Timeouts = new() { Request = $"{weights[i]}s" },
                }],
            })],
        };

    [Fact]
    public void Parse_AnyText_NeverThrowsAndAlwaysExplainsRefusal()
    {
        var tokens = Gen.Elements(":", " ", "-", "- ", "[", "]", "{", "}", ",", "?", "&a ", "*a", "!!int ", "!!str ", "|", ">", "\n", "\n  ", "\n    ",
            "name", "services", "routes", "rules", "policies", "backendRefs", "weight", "\"x\"", "'y'", "# c", "---", "...", "%YAML 1.2\n", "null", "1e9", "-5", "true", "\t");
        var structured = Gen.ListOf(tokens).Select(parts => string.Concat(parts));
        var texts = Gen.OneOf(
            ArbMap.Default.GeneratorFor<string>().Where(s => s is not null),
            structured,
            Gen.Elements("{", "[", "?", "? [a]: b", "{\"\": 1}", "services:\n - :", "{\"services\": {}}", "routes: 5", "- a\n- b", "&a [*a]", "services: [{name: 1}]", "{\"routes\":[{\"rules\":null}]}"));

        Check.One(Runs, Prop.ForAll(texts.ToArbitrary(), text =>
        {
            foreach (var format in new[] { ConfigFormat.Json, ConfigFormat.Yaml })
            {
                var result = MeshConfigParser.Parse(text, format);
                if (result.Config is null && (result.Errors.Count == 0 || result.Errors.Any(e => string.IsNullOrWhiteSpace(e.Message) || string.IsNullOrWhiteSpace(e.Path))))
                {
                    return false;
                }
            }

            return true;
        }));
    }

    [Fact]
    public void WriteThenParse_ValidConfig_RoundTripsInBothFormats()
    {
        Check.One(Runs, Prop.ForAll(ValidConfigs.ToArbitrary(), config =>
        {
            var expected = JsonSerializer.Serialize(config, MeshJsonContext.Default.MeshConfig);
            return new[] { ConfigFormat.Json, ConfigFormat.Yaml }.All(format =>
            {
                var parsed = MeshConfigParser.Parse(MeshConfigParser.Write(config, format), format);
                return parsed.IsValid && JsonSerializer.Serialize(parsed.Config!, MeshJsonContext.Default.MeshConfig) == expected;
            });
        }));
    }

    [Fact]
    public void Validate_BackendNotDeclared_AlwaysReportedAtItsPath()
    {
        Check.One(Runs, Prop.ForAll(ValidConfigs.Where(c => c.Routes.Count > 0).ToArbitrary(), Name.ToArbitrary(), (config, ghost) =>
        {
            var declared = config.Services.Select(s => s.Name).ToHashSet();
            if (declared.Contains(ghost))
            {
                return true;
            }

            var broken = config with
            {
                Routes = [.. config.Routes.Select((r, i) => i == 0 ? r with { Rules = [r.Rules[0] with { BackendRefs = [new() { Name = ghost }] }] } : r)],
            };
            return MeshConfigValidator.Validate(broken).Any(e => e.Path == "routes[0].rules[0].backendRefs[0].name" && e.Message.Contains($"'{ghost}'", StringComparison.Ordinal));
        }));
    }
}
