using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.Contracts.Storage;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Configuration;

namespace AspireMesh.ProxyEngine.Configuration;

/// <summary>
/// Validates a snapshot whole, then swaps it in atomically. A snapshot with any error is refused and the current one
/// keeps serving; requests in flight finish on the config they started with.
/// </summary>
internal sealed class SnapshotApplier(InMemoryConfigProvider provider, IConfigValidator validator, IProxyStateLookup state, RouteTable routeTable, InboundPolicies inbound, Security.PeerAuthentication peers, Egress.EgressTable egress, ProxyStatus status, ProxyEngineOptions options, ILogger<SnapshotApplier> logger,
    IEnumerable<ISnapshotConsumer> consumers)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Applies <paramref name="snapshot"/>; returns the reasons it was refused, empty when applied.</summary>
    public async Task<IReadOnlyList<string>> ApplyAsync(ProxySnapshot snapshot, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        // The watch's response may complete on a socket event thread (--io auto and inline), which must never wait:
        // compiling a snapshot and writing it and the trust bundle to disk (with fsync) run on the thread pool.
        await Task.Yield();
        try
        {
            var unsupported = SnapshotSupport.Unsupported(snapshot);
            if (unsupported.Count > 0)
            {
                var reasons = new[] { $"this proxy does not implement yet: {string.Join("; ", unsupported)}" };
                ProxyEngineLog.SnapshotRefused(logger, snapshot.Version, status.AppliedVersion, reasons[0]);
                return reasons;
            }

            var (routes, clusters) = SnapshotCompiler.Compile(snapshot, options);
            var errors = new List<string>();
            foreach (var route in routes)
            {
                errors.AddRange((await validator.ValidateRouteAsync(route).ConfigureAwait(false)).Select(e => $"route '{route.RouteId}': {e.Message}"));
            }

            foreach (var cluster in clusters)
            {
                errors.AddRange((await validator.ValidateClusterAsync(cluster).ConfigureAwait(false)).Select(e => $"cluster '{cluster.ClusterId}': {e.Message}"));
            }

            foreach (var consumer in consumers)
            {
                errors.AddRange(consumer.Validate(snapshot));
            }

            var clusterIds = clusters.Select(c => c.ClusterId).ToHashSet(StringComparer.OrdinalIgnoreCase);
            errors.AddRange(routes.Where(r => !clusterIds.Contains(r.ClusterId!)).Select(r => $"route '{r.RouteId}': cluster '{r.ClusterId}' is not in the snapshot"));
            var authorization = Security.AuthorizationTable.Compile(snapshot.Inbound.Authorization, errors);
            var egressPolicies = egress.Compile(snapshot.Egress, errors);

            if (errors.Count > 0)
            {
                ProxyEngineLog.SnapshotRefused(logger, snapshot.Version, status.AppliedVersion, string.Join("; ", errors));
                return errors;
            }

            // Policies first: a request routed by the new config must find its route's policy.
            routeTable.Apply(snapshot);
            inbound.Apply(snapshot.Inbound, authorization);
            egress.Apply(egressPolicies);
            peers.Apply(snapshot);
            foreach (var consumer in consumers)
            {
                consumer.Apply(snapshot);
            }

            provider.Update(routes, clusters);
            await WaitUntilServedAsync(routes, clusters, cancellationToken).ConfigureAwait(false);
            var first = status.AppliedVersion == 0;
            status.SnapshotApplied(snapshot.Version);
            Persist(snapshot);
            var endpoints = clusters.Sum(c => c.Destinations?.Count ?? 0);
            if (first)
            {
                ProxyEngineLog.FirstSnapshotApplied(logger, snapshot.Version, routes.Count, clusters.Count, endpoints);
            }
            else
            {
                ProxyEngineLog.SnapshotApplied(logger, snapshot.Version, routes.Count, clusters.Count, endpoints);
            }
            return [];
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Keeps the applied snapshot on disk, so a restarted proxy serves it even while the control plane is down.</summary>
    private void Persist(ProxySnapshot snapshot)
    {
        if (options.StateFile is not { } path)
        {
            return;
        }

        try
        {
            DurableFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(snapshot, MeshJsonContext.Default.ProxySnapshot));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ProxyEngineLog.SnapshotNotSaved(logger, path, ex.Message);
        }
    }

    /// <summary>
    /// YARP rebuilds its routing state when the provider signals a change; a snapshot counts as applied (and is
    /// reported so) only once requests are routed by it.
    /// </summary>
    private async Task WaitUntilServedAsync(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < 200 && !IsServed(routes, clusters); attempt++)
        {
            await Task.Delay(5, cancellationToken).ConfigureAwait(false);
        }
    }

    private bool IsServed(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters) =>
        routes.All(r => state.TryGetRoute(r.RouteId, out var model) && model.Config.Equals(r))
        && clusters.All(c => state.TryGetCluster(c.ClusterId, out var cluster)
            && cluster.Destinations.Count == (c.Destinations?.Count ?? 0)
            && (c.Destinations ?? new Dictionary<string, DestinationConfig>()).Keys.All(cluster.Destinations.ContainsKey));
}
