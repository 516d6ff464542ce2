using System.Collections.Frozen;
using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Configuration;
using Microsoft.Extensions.Logging;

namespace AspireMesh.Gateway.Authentication;

/// <summary>
/// The authentication each route of the current snapshot requires, swapped with each snapshot. An authenticator
/// survives a snapshot that leaves its policy unchanged, so fetched JWKS keys are not thrown away by an unrelated change.
/// </summary>
internal sealed class AuthenticationPolicies(ProxyEngineOptions options, TimeProvider time, ILoggerFactory loggers) : ISnapshotConsumer, IDisposable
{
    private readonly HttpClient _jwksClient = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly Lock _gate = new();
    private Dictionary<string, IAuthenticator> _byPolicy = new(StringComparer.Ordinal);
    private FrozenDictionary<string, IAuthenticator> _byRoute = FrozenDictionary<string, IAuthenticator>.Empty;

    /// <summary>The authenticator of a route, or null when it requires none.</summary>
    public IAuthenticator? Find(string routeId) => Volatile.Read(ref _byRoute).GetValueOrDefault(routeId);

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

    public void Apply(ProxySnapshot snapshot)
    {
        lock (_gate)
        {
            var byPolicy = new Dictionary<string, IAuthenticator>(StringComparer.Ordinal);
            var byRoute = new Dictionary<string, IAuthenticator>(StringComparer.Ordinal);
            foreach (var route in snapshot.Routes)
            {
                if (route.Authentication is not { } policy)
                {
                    continue;
                }

                var key = JsonSerializer.Serialize(policy, MeshJsonContext.Default.AuthenticationPolicy);
                if (!byPolicy.TryGetValue(key, out var authenticator))
                {
                    authenticator = _byPolicy.GetValueOrDefault(key) ?? Create(policy);
                    byPolicy[key] = authenticator;
                }

                byRoute[route.Name] = authenticator;
            }

            _byPolicy = byPolicy;
            Volatile.Write(ref _byRoute, byRoute.ToFrozenDictionary(StringComparer.Ordinal));
        }
    }

    public void Dispose() => _jwksClient.Dispose();

    private IAuthenticator Create(AuthenticationPolicy policy) => policy.Type == AuthenticationTypes.ApiKey
        ? new ApiKeyAuthenticator(policy.ApiKey!, Environment.GetEnvironmentVariable)
        : new JwtAuthenticator(policy.Jwt!,
            policy.Jwt!.JwksUri is { } uri ? new JwksKeySource(new Uri(uri), _jwksClient, time, loggers.CreateLogger<JwksKeySource>()) : null,
            time, options.Name);

    private static Dictionary<string, AuthenticationPolicy> Policies(ProxySnapshot snapshot) =>
        snapshot.Routes.Where(r => r.Authentication is not null).Select(r => r.Authentication!).DistinctBy(p => p.Name).ToDictionary(p => p.Name, StringComparer.Ordinal);
}
