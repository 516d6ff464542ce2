using System.Collections.Frozen;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts.Config;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace AspireMesh.ProxyEngine.Egress;

/// <summary>
/// The hosts outside the mesh this proxy's app may call, from the latest snapshot's egress policies, and the HTTP
/// clients that call them (one per distinct set of trusted CAs, kept across snapshots that do not change it).
/// Exact host names are looked up before <c>*.</c> wildcards; among equals, the first policy wins.
/// </summary>
public sealed class EgressTable
{
    private readonly Lock _gate = new();
    private readonly ProxyEngineOptions _options;
    private Compiled _compiled = Compiled.Empty;
    private Dictionary<string, HttpMessageInvoker> _clients = new(StringComparer.Ordinal);

    /// <summary>Creates an empty table for the proxy described by <paramref name="options"/>.</summary>
    public EgressTable(ProxyEngineOptions options) => _options = options;

    /// <summary>
    /// The policy that lets the app open a tunnel (CONNECT) to <paramref name="host"/>:<paramref name="port"/>, or null.
    /// </summary>
    public EgressDestination? FindTunnel(string host, int port) => Volatile.Read(ref _compiled).Find(host, port, tunnel: true).Allowed;

    /// <summary>
    /// The policy that lets the app send a plain HTTP request to <paramref name="host"/> (on <paramref name="port"/>,
    /// 80 when the request names none); when none does, a policy that names the host on another port, if any.
    /// </summary>
    internal (EgressDestination? Allowed, EgressDestination? OtherPort) FindHttp(string host, int port) => Volatile.Read(ref _compiled).Find(host, port, tunnel: false);

    /// <summary>Compiles <paramref name="policies"/> (those of this proxy's service); adds to <paramref name="errors"/> what cannot be used.</summary>
    internal Compiled Compile(IReadOnlyList<EgressPolicy> policies, List<string> errors)
    {
        lock (_gate)
        {
            var exact = new Dictionary<string, List<EgressDestination>>(StringComparer.OrdinalIgnoreCase);
            var wildcards = new List<(string Suffix, EgressDestination Destination)>();
            foreach (var policy in policies)
            {
                // The control plane sends only the policies of this service; a sidecar checks again rather than trust that.
                if (policy.FromServices.Count > 0 && !policy.FromServices.Contains(_options.Name, StringComparer.Ordinal))
                {
                    continue;
                }

                X509Certificate2Collection? authorities = null;
                if (policy.CaCertificate is { } ca)
                {
                    authorities = CaCertificates.Load(ca, out var error);
                    if (authorities is null)
                    {
                        errors.Add($"egress policy '{policy.Name}': caCertificate: {error}");
                        continue;
                    }
                }

                var destination = new EgressDestination(policy.Name, policy.Port, policy.Tls == "Originate", policy.CaCertificate, authorities);
                foreach (var host in policy.Hosts)
                {
                    if (host.StartsWith("*.", StringComparison.Ordinal))
                    {
                        wildcards.Add((host[1..], destination));
                    }
                    else
                    {
                        (exact.TryGetValue(host, out var list) ? list : exact[host] = []).Add(destination);
                    }
                }
            }

            return new Compiled(exact.ToFrozenDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.OrdinalIgnoreCase), [.. wildcards]);
        }
    }

    /// <summary>Swaps in <paramref name="compiled"/>, with an HTTP client for every destination that originates TLS or calls plain HTTP.</summary>
    internal void Apply(Compiled compiled)
    {
        lock (_gate)
        {
            var clients = new Dictionary<string, HttpMessageInvoker>(StringComparer.Ordinal);
            foreach (var destination in compiled.Destinations)
            {
                var key = destination.CaCertificate ?? "";
                if (!clients.TryGetValue(key, out var client))
                {
                    // Clients no longer used are left to the garbage collector, not disposed: requests may still be using them.
                    client = _clients.GetValueOrDefault(key) ?? CreateClient(destination.Authorities);
                    clients[key] = client;
                }

                destination.Client = client;
            }

            _clients = clients;
            Volatile.Write(ref _compiled, compiled);
        }
    }

    private HttpMessageInvoker CreateClient(X509Certificate2Collection? authorities) =>
        new EgressHttpClientFactory(_options.ConnectTimeout, authorities, _options.ClientSpans).CreateClient(new ForwarderHttpClientContext { NewConfig = HttpClientConfig.Empty });

    /// <summary>The compiled policies: exact hosts, then wildcard suffixes (<c>.example.com</c>).</summary>
    internal sealed class Compiled(FrozenDictionary<string, EgressDestination[]> exact, (string Suffix, EgressDestination Destination)[] wildcards)
    {
        public static readonly Compiled Empty = new(FrozenDictionary<string, EgressDestination[]>.Empty, []);

        public IEnumerable<EgressDestination> Destinations => exact.Values.SelectMany(d => d).Concat(wildcards.Select(w => w.Destination));

        public (EgressDestination? Allowed, EgressDestination? OtherPort) Find(string host, int port, bool tunnel)
        {
            EgressDestination? other = null;
            if (exact.TryGetValue(host, out var destinations))
            {
                foreach (var destination in destinations)
                {
                    if (destination.Accepts(port, tunnel))
                    {
                        return (destination, null);
                    }

                    other ??= destination;
                }
            }

            foreach (var (suffix, destination) in wildcards)
            {
                // "*.example.com" matches "api.example.com", not "example.com" itself.
                if (host.Length > suffix.Length && host.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
                {
                    if (destination.Accepts(port, tunnel))
                    {
                        return (destination, null);
                    }

                    other ??= destination;
                }
            }

            return (null, other);
        }
    }

    /// <summary>YARP's client factory with the mesh's connect timeout and, when given, extra trusted CAs for the hosts' certificates.</summary>
    private sealed class EgressHttpClientFactory(TimeSpan connectTimeout, X509Certificate2Collection? authorities, bool clientSpans)
        : Telemetry.TraceContextClientFactory(clientSpans)
    {
        protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
        {
            base.ConfigureHandler(context, handler);
            handler.ConnectTimeout = connectTimeout;
            if (authorities is not null)
            {
                handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => TrustedBy(authorities, certificate, chain, errors);
            }
        }

        /// <summary>Valid for the system's trust store, or chaining to one of <paramref name="authorities"/>; the name must match either way.</summary>
        private static bool TrustedBy(X509Certificate2Collection authorities, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            if (errors == SslPolicyErrors.None)
            {
                return true;
            }

            if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null)
            {
                return false;
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            custom.ChainPolicy.CustomTrustStore.AddRange(authorities);
            if (chain is not null)
            {
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return custom.Build(leaf);
        }
    }
}

/// <summary>An egress policy as a proxy uses it: the port it allows, whether the proxy originates TLS, and its client.</summary>
public sealed class EgressDestination
{
    internal EgressDestination(string policy, int port, bool originateTls, string? caCertificate, X509Certificate2Collection? authorities)
    {
        Policy = policy;
        Port = port;
        OriginateTls = originateTls;
        CaCertificate = caCertificate;
        Authorities = authorities;
    }

    /// <summary>The egress policy's name.</summary>
    public string Policy { get; }

    /// <summary>The port the host is called on.</summary>
    public int Port { get; }

    /// <summary>Whether the proxy opens TLS to the host for plain HTTP requests from the app.</summary>
    public bool OriginateTls { get; }

    internal string? CaCertificate { get; }

    internal X509Certificate2Collection? Authorities { get; }

    internal HttpMessageInvoker Client { get; set; } = null!;

    /// <summary>
    /// A tunnel must ask for the policy's port. A plain request must too, except that with TLS origination the app may
    /// also call the host on port 80 (<c>http://api.example.com/</c>), which the proxy calls on the policy's port over TLS.
    /// </summary>
    internal bool Accepts(int port, bool tunnel) => port == Port || (!tunnel && OriginateTls && port == 80);
}
