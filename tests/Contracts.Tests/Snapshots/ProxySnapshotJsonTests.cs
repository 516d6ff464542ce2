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
}
