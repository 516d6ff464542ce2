using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.Contracts.Tests.Snapshots;

/// <summary>Snapshots on the wire and on disk (a proxy restarts from its last one), written by this version or an older one.</summary>
public sealed class ProxySnapshotJsonTests
{
    [Fact]
    public void Deserialize_InboundWithoutGatewayIdentityHeaders_KeepsTheBuiltInOnes()
    {
        // As a control plane (or a saved snapshot) from before the field was added wrote it.
        const string json = """{"version":3,"routes":[],"clusters":[],"configVersion":2,"inbound":{"authorization":[],"rateLimits":[],"mtls":"Permissive"},"egress":[],"trustBundle":[]}""";

        var snapshot = JsonSerializer.Deserialize(json, MeshJsonContext.Default.ProxySnapshot)!;

        Assert.Equal(MtlsModes.Permissive, snapshot.Inbound.Mtls);
        Assert.Equal(["x-mesh-jwt-sub", "x-mesh-api-key"], snapshot.Inbound.GatewayIdentityHeaders);
    }

    [Fact]
    public void RoundTrip_GatewayIdentityHeaders_Kept()
    {
        var snapshot = new ProxySnapshot(3, [], []) { Inbound = new InboundPolicySnapshot { GatewayIdentityHeaders = ["x-mesh-api-key", "x-mesh-jwt-sub", "x-tenant"] } };

        var json = JsonSerializer.Serialize(snapshot, MeshJsonContext.Default.ProxySnapshot);
        var back = JsonSerializer.Deserialize(json, MeshJsonContext.Default.ProxySnapshot)!;

        Assert.Contains("\"gatewayIdentityHeaders\":[\"x-mesh-api-key\",\"x-mesh-jwt-sub\",\"x-tenant\"]", json, StringComparison.Ordinal);
        Assert.Equal(["x-mesh-api-key", "x-mesh-jwt-sub", "x-tenant"], back.Inbound.GatewayIdentityHeaders);
    }

    [Fact]
    public void Tolerant_SnapshotOfANewerControlPlane_ReadWithoutItsNewMembers_WhichAreNamedByPath()
    {
        // As a newer control plane would write it: a member at the top, one in a route, one in an inbound policy's
        // rule; a known member in another case, and a null one, are not unknown.
        const string json = """
            {"version":3,"newTop":{"a":1},"routes":[{"name":"r","cluster":"c","Order":2,"path":null,"mirrorPercent":50}],"clusters":[],
             "inbound":{"authorization":[{"name":"p","action":"Deny","rules":[{"fromServices":["x"],"notFrom":["y"]}]}]}}
            """;

        var snapshot = JsonSerializer.Deserialize(json, MeshJsonContext.Tolerant.ProxySnapshot)!;
        var unknown = UnknownMembers.Find(System.Text.Encoding.UTF8.GetBytes(json), snapshot, MeshJsonContext.Default.ProxySnapshot);

        Assert.Equal((3L, 2, "Deny"), (snapshot.Version, Assert.Single(snapshot.Routes).Order, Assert.Single(snapshot.Inbound.Authorization).Action));
        Assert.Equal(["newTop", "routes[0].mirrorPercent", "inbound.authorization[0].rules[0].notFrom"], unknown);
        // The default context, for what people write, still refuses them.
        var refused = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize(json, MeshJsonContext.Default.ProxySnapshot));
        Assert.Contains("'newTop'", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownMembers_SnapshotThisBuildWrote_None()
    {
        var snapshot = new ProxySnapshot(3, [new RouteSnapshot("r", ["a.example"], null, "c", 1)], [])
        {
            Inbound = new InboundPolicySnapshot { Authorization = [new AuthorizationPolicy { Name = "p", Action = "Allow", Rules = [new() { FromServices = ["x"] }] }] },
            TrustBundle = ["pem"],
        };
        var json = JsonSerializer.SerializeToUtf8Bytes(snapshot, MeshJsonContext.Default.ProxySnapshot);

        Assert.Empty(UnknownMembers.Find(json, JsonSerializer.Deserialize(json, MeshJsonContext.Tolerant.ProxySnapshot)!, MeshJsonContext.Default.ProxySnapshot));
    }

    [Fact]
    public void Serialize_NothingRequired_WritesNoRequiresMember_ARequiredFeatureIsWritten()
    {
        // Proxies of 0.1.0 refuse members they do not know: a snapshot that requires nothing must not name the list.
        var plain = JsonSerializer.Serialize(new ProxySnapshot(3, [], []), MeshJsonContext.Default.ProxySnapshot);
        var requiring = JsonSerializer.Serialize(new ProxySnapshot(3, [], []) { Requires = ["deny-on-sni"] }, MeshJsonContext.Default.ProxySnapshot);

        Assert.DoesNotContain("requires", plain, StringComparison.Ordinal);
        Assert.Contains("\"requires\":[\"deny-on-sni\"]", requiring, StringComparison.Ordinal);
    }
}
