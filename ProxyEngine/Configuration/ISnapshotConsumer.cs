using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.ProxyEngine.Configuration;

/// <summary>
/// A part of a proxy that enforces something a snapshot carries beyond the engine's routing (e.g. the gateway's
/// authentication). It takes part in applying each snapshot whole: any error it reports refuses the snapshot, and it
/// applies the snapshot just before requests are routed by it.
/// </summary>
public interface ISnapshotConsumer
{
    /// <summary>What in <paramref name="snapshot"/> this consumer cannot enforce; empty when it can.</summary>
    IReadOnlyList<string> Validate(ProxySnapshot snapshot);

    /// <summary>Starts enforcing <paramref name="snapshot"/> (already validated).</summary>
    void Apply(ProxySnapshot snapshot);
}
