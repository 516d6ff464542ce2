using System.Collections.Frozen;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Configuration;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Authentication;

/// <summary>
/// The authentication the current snapshot requires: a gateway's per route, a sidecar's for the requests its service
/// receives (<see cref="InboundPolicySnapshot.Authentication"/>); swapped with each snapshot. An authenticator survives a
/// snapshot that leaves its policy unchanged, so fetched JWKS keys are not thrown away by an unrelated change.
/// </summary>
/// <param name="realm">The realm of <c>WWW-Authenticate</c> challenges: the gateway's or the service's name.</param>
/// <param name="time">The clock tokens are checked against.</param>
/// <param name="loggers">Where JWKS fetches are logged.</param>
public sealed class AuthenticationPolicies(string realm, TimeProvider time, ILoggerFactory loggers) : ISnapshotConsumer, IDisposable
{
    private readonly HttpClient _jwksClient = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Lock _gate = new();
    private Dictionary<string, IAuthenticator> _byPolicy = new(StringComparer.Ordinal);
    private FrozenDictionary<string, IAuthenticator> _byRoute = FrozenDictionary<string, IAuthenticator>.Empty;
    private volatile IAuthenticator? _inbound;

    /// <summary>The authenticator of a route, or null when it requires none.</summary>
    public IAuthenticator? Find(string routeId) => Volatile.Read(ref _byRoute).GetValueOrDefault(routeId);

    /// <summary>The authenticator of the sidecar's service, or null when the service requires no credential.</summary>
    public IAuthenticator? Inbound => _inbound;

    /// <inheritdoc/>
    public IReadOnlyList<string> Validate(ProxySnapshot snapshot)
    {
        var errors = new List<string>();
        foreach (var policy in Policies(snapshot).Values)
        {
            if (policy.Type == AuthenticationTypes.Jwt && policy.Jwt is { } jwt)
            {
                for (var k = 0; k < jwt.Keys.Count; k++)
                {
                    if (SigningKeyReader.TryRead(jwt.Keys[k].Field, out var error) is null)
                    {
                        errors.Add($"authentication policy '{policy.Name}': keys[{k}]: {error}");
                    }
                }

                if (jwt.Keys.Count == 0 && jwt.JwksUri is null)
                {
                    errors.Add($"authentication policy '{policy.Name}': no keys and no jwksUri.");
                }
            }
            else if (!(policy.Type == AuthenticationTypes.ApiKey && policy.ApiKey is not null))
            {
                errors.Add($"authentication policy '{policy.Name}': type '{policy.Type}' without its settings.");
            }
        }

        return errors;
    }

    /// <inheritdoc/>
    public void Apply(ProxySnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_gate)
        {
            var byPolicy = new Dictionary<string, IAuthenticator>(StringComparer.Ordinal);
            IAuthenticator Reuse(AuthenticationPolicy policy, string subject)
            {
                var key = subject + "\n" + JsonSerializer.Serialize(policy, MeshJsonContext.Default.AuthenticationPolicy);
                if (!byPolicy.TryGetValue(key, out var authenticator))
                {
                    authenticator = _byPolicy.GetValueOrDefault(key) ?? Create(policy, subject);
                    byPolicy[key] = authenticator;
                }

                return authenticator;
            }

            var byRoute = new Dictionary<string, IAuthenticator>(StringComparer.Ordinal);
            foreach (var route in snapshot.Routes)
            {
                if (route.Authentication is { } policy)
                {
                    byRoute[route.Name] = Reuse(policy, "this route");
                }
            }

            var inbound = snapshot.Inbound.Authentication is { } own ? Reuse(own, $"service '{realm}'") : null;
            _byPolicy = byPolicy;
            Volatile.Write(ref _byRoute, byRoute.ToFrozenDictionary(StringComparer.Ordinal));
            _inbound = inbound;
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _jwksClient.Dispose();

    private IAuthenticator Create(AuthenticationPolicy policy, string subject) => policy.Type == AuthenticationTypes.ApiKey
        ? new ApiKeyAuthenticator(policy.ApiKey!, Environment.GetEnvironmentVariable, subject)
        : new JwtAuthenticator(policy.Jwt!,
            policy.Jwt!.JwksUri is { } uri ? new JwksKeySource(new Uri(uri), _jwksClient, time, loggers.CreateLogger<JwksKeySource>()) : null,
            time, realm, subject);

    private static Dictionary<string, AuthenticationPolicy> Policies(ProxySnapshot snapshot) =>
        snapshot.Routes.Where(r => r.Authentication is not null).Select(r => r.Authentication!)
            .Concat(snapshot.Inbound.Authentication is { } own ? [own] : [])
            .DistinctBy(p => p.Name).ToDictionary(p => p.Name, StringComparer.Ordinal);
}
