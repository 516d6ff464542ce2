using System.Text.Json;
using System.Text.RegularExpressions;
using AspireMesh.Contracts.Config;

namespace AspireMesh.Contracts.Tests.Config;

public sealed partial class MeshConfigParserTests
{
    private static string DocsExample()
    {
        var docs = Path.Combine(RepositoryRoot(), "docs", "config.md");
        return YamlBlock().Match(File.ReadAllText(docs)).Groups[1].Value;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AspireMesh.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("AspireMesh.sln not found above the test output.");
    }

    [Fact]
    public void Parse_DocumentedExample_IsValidAndComplete()
    {
        var result = MeshConfigParser.Parse(DocsExample(), ConfigFormat.Yaml);

        Assert.Empty(result.Errors);
        var config = result.Config!;
        Assert.Equal(["frontend", "catalog", "catalog-v2", "inventory"], config.Services.Select(s => s.Name));
        var canary = config.Routes.Single(r => r.Name == "catalog-canary");
        Assert.Equal(ParentKinds.Service, canary.ParentRefs[0].Kind);
        Assert.Equal([90, 10], canary.Rules[1].BackendRefs.Select(b => b.Weight));
        Assert.Equal("true", canary.Rules[0].Matches[0].Headers[0].Value);
        Assert.Equal(0.5, canary.Rules[2].Filters[1].FaultInjection!.Abort!.Percentage);
        Assert.Equal("x-user-id", config.Policies.Backends[1].LoadBalancer!.HashHeader);
        Assert.Equal("Source", config.Policies.RateLimits[0].Per);
    }

    [Fact]
    public void Write_ThenParse_YamlAndJsonGiveTheSameConfig()
    {
        var config = MeshConfigParser.Parse(DocsExample(), ConfigFormat.Yaml).Config!;

        foreach (var format in new[] { ConfigFormat.Json, ConfigFormat.Yaml })
        {
            var again = MeshConfigParser.Parse(MeshConfigParser.Write(config, format), format);
            Assert.Empty(again.Errors);
            Assert.Equal(Json(config), Json(again.Config!));
        }
    }

    [Fact]
    public void Parse_UnknownKey_RefusedNamingKeyAndPlace()
    {
        var result = MeshConfigParser.Parse("""
            services:
              - name: catalog
                replicas: 3
            """, ConfigFormat.Yaml);

        var error = Assert.Single(result.Errors);
        Assert.Equal("services[0].replicas", error.Path);
        Assert.StartsWith("unknown field 'replicas' in services[0]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_WrongType_SaysWhatWasExpectedAndWhereInJson()
    {
        var result = MeshConfigParser.Parse("""
            {"services":[{"name":"catalog"}],
             "routes":[{"name":"r","parentRefs":[{"name":"g"}],"rules":[{"backendRefs":[{"name":"catalog","weight":"heavy"}]}]}]}
            """, ConfigFormat.Json);

        var error = Assert.Single(result.Errors);
        Assert.Equal("routes[0].rules[0].backendRefs[0].weight", error.Path);
        Assert.StartsWith("expected a whole number (line 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MalformedYaml_ReportsLineAndColumn()
    {
        var result = MeshConfigParser.Parse("services:\n  - name: catalog\n   references: [a\n", ConfigFormat.Yaml);

        Assert.StartsWith("malformed YAML at line", Assert.Single(result.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DuplicateYamlKey_Refused()
    {
        var result = MeshConfigParser.Parse("services:\n  - name: a\n    name: b\n", ConfigFormat.Yaml);

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("malformed YAML at line 3", error.Message, StringComparison.Ordinal);
        Assert.Contains("Duplicate key", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Parse_AliasExpansionBomb_RefusedNotExpanded()
    {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + string.Join('\n',
            Enumerable.Range(0, 8).Select(i => $"{(char)('b' + i)}: &{(char)('b' + i)} [*{(char)('a' + i)}, *{(char)('a' + i)}, *{(char)('a' + i)}, *{(char)('a' + i)}, *{(char)('a' + i)}, *{(char)('a' + i)}, *{(char)('a' + i)}, *{(char)('a' + i)}, *{(char)('a' + i)}, *{(char)('a' + i)}]"));

        var result = MeshConfigParser.Parse(bomb, ConfigFormat.Yaml);

        Assert.Contains("expands to more than", Assert.Single(result.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SelfContainingAlias_RefusedNotRecursedForever()
    {
        var result = MeshConfigParser.Parse("services: &a [*a]", ConfigFormat.Yaml);

        Assert.Contains("nests deeper than", Assert.Single(result.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ExplicitNullList_RefusedAtItsPath()
    {
        var error = Assert.Single(MeshConfigParser.Parse("""{"routes":[{"name":"r","rules":null}]}""", ConfigFormat.Json).Errors);

        Assert.Equal("routes[0].rules", error.Path);
        Assert.StartsWith("must not be null", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", ConfigFormat.Yaml)]
    [InlineData("null", ConfigFormat.Json)]
    public void Parse_EmptyDocument_RefusedWithReason(string text, ConfigFormat format) =>
        Assert.Contains("empty", Assert.Single(MeshConfigParser.Parse(text, format).Errors).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("{\"services\":[]}", "application/json", ConfigFormat.Json)]
    [InlineData("services: []", "application/yaml", ConfigFormat.Yaml)]
    [InlineData("services: []", "mesh.yml", ConfigFormat.Yaml)]
    [InlineData("  {\"services\":[]}", null, ConfigFormat.Json)]
    [InlineData("services: []", null, ConfigFormat.Yaml)]
    public void DetectFormat_MediaTypeFileNameOrContent_Chosen(string text, string? hint, ConfigFormat expected) =>
        Assert.Equal(expected, MeshConfigParser.DetectFormat(text, hint));

    private static string Json(MeshConfig config) => JsonSerializer.Serialize(config, MeshJsonContext.Default.MeshConfig);

    [GeneratedRegex("```yaml\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex YamlBlock();
}
