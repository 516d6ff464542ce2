using System.Net;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Security;
using AspireMesh.ControlPlane.Security;

namespace AspireMesh.ControlPlane.Telemetry;

/// <summary>
/// Reads a proxy's <c>/stats</c> and <c>/tap</c>: on the admin listener of a proxy on this machine (plain HTTP on
/// loopback), on the telemetry listener of one elsewhere (a pod), over mTLS. There the control plane presents its own
/// certificate (<see cref="SpiffeId.ControlPlane"/>, from its CA, issued again at half its life or when the serving root
/// changes) and takes the proxy's only when it chains to the mesh's roots and names the identity of the workload the
/// proxy reported as, so a report cannot point the control plane at anything else.
/// </summary>
internal sealed class ProxyReader : IDisposable
{
    private static readonly HttpRequestOptionsKey<Refusal> PeerRefusal = new("aspiremesh.peer-refusal");
    private readonly Lock _gate = new();
    private readonly CertificateAuthority _authority;
    private readonly TimeProvider _time;
    private readonly ILogger<ProxyReader> _logger;
    private readonly HttpClient _plain = new() { Timeout = Timeout.InfiniteTimeSpan };
    private Mtls? _mtls;
    private Mtls? _retired;

    public ProxyReader(CertificateAuthority authority, TimeProvider time, ILogger<ProxyReader> logger)
    {
        _authority = authority;
        _time = time;
        _logger = logger;
    }

    /// <summary>Whether the control plane can read <paramref name="proxy"/> (it reported where).</summary>
    public static bool Readable(ProxyInfo proxy) => proxy.TelemetryAddress is not null || proxy.AdminAddress is not null;

    /// <summary>
    /// GETs <paramref name="pathAndQuery"/> (e.g. <c>stats</c>, <c>tap?service=a</c>) of <paramref name="proxy"/>. Throws
    /// <see cref="HttpRequestException"/> with the reason when the proxy cannot be reached or its certificate is refused.
    /// </summary>
    public async Task<HttpResponseMessage> GetAsync(ProxyInfo proxy, string pathAndQuery, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        var (client, address) = proxy.TelemetryAddress is { } telemetry
            ? (Mutual(SpiffeId.For(_authority.TrustDomain, proxy.Kind, proxy.Name).ToString()), telemetry)
            : (_plain, proxy.AdminAddress ?? throw new HttpRequestException($"proxy {proxy.Id} reported no address to read it at."));
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(address.TrimEnd('/') + "/"), pathAndQuery));
        var refusal = new Refusal();
        request.Options.Set(PeerRefusal, refusal);

        try
        {
            var response = await client.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                response.Dispose();
                throw new HttpRequestException($"{request.RequestUri} answered {(int)response.StatusCode}: {body.Trim()}", null, response.StatusCode);
            }

            return response;
        }
        catch (HttpRequestException ex) when (refusal.Reason is { } reason)
        {
            throw new HttpRequestException($"{request.RequestUri}: the proxy's certificate was refused: {reason}", ex);
        }
        catch (ObjectDisposedException ex)
        {
            // A client retired (two certificate renewals ago) while this request set out on it: the next one gets a new client.
            throw new HttpRequestException($"{request.RequestUri}: the control plane's certificate was renewed meanwhile; read again.", ex);
        }
    }

    public void Dispose()
    {
        _plain.Dispose();
        lock (_gate)
        {
            _mtls?.Dispose();
            _retired?.Dispose();
        }
    }

    /// <summary>
    /// The client for telemetry listeners of the workload <paramref name="expected"/>, with a current certificate of the
    /// control plane's. One per workload: a connection is checked once, at its handshake, and pooled by address, so a
    /// connection checked for one workload must never carry a request meant for another at the same address.
    /// </summary>
    private HttpClient Mutual(string expected)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_mtls is not { } current || now >= current.RenewAt || current.Root != _authority.ServingRoot(now))
            {
                using var issued = _authority.IssueControlPlaneClient(out var root);
                // Exported and loaded again: SslStream on Linux hands OpenSSL a certificate whose key travels with it.
                var certificate = X509CertificateLoader.LoadPkcs12(issued.Export(X509ContentType.Pkcs12), null);
                // The clients before the last are let go now: what they were reading (a tap) has had a half-lifetime to end.
                _retired?.Dispose();
                _retired = _mtls;
                current = _mtls = new Mtls(certificate, root, now + ((certificate.NotAfter - now) / 2));
                ControlPlaneLog.ClientCertificateIssued(_logger, SpiffeId.ControlPlane(_authority.TrustDomain).ToString(), root, certificate.NotAfter);
            }

            if (!current.Clients.TryGetValue(expected, out var client))
            {
                var handler = new HttpClientHandler
                {
                    ClientCertificateOptions = ClientCertificateOption.Manual,
                    ServerCertificateCustomValidationCallback = (request, presented, _, _) => ValidateProxy(request, presented, expected),
                    CheckCertificateRevocationList = false,
                    SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
                };
                handler.ClientCertificates.Add(current.Certificate);
                client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
                current.Clients.Add(expected, client);
            }

            return client;
        }
    }

    /// <summary>
    /// The proxy's certificate must chain to a root of the mesh and name the workload the proxy reported as; its host
    /// name is not checked (a pod's IP is in no certificate), as SPIFFE peers are authenticated by their ID.
    /// </summary>
    private bool ValidateProxy(HttpRequestMessage request, X509Certificate2? certificate, string expected)
    {
        string reason;
        if (certificate is null)
        {
            reason = "it presented none";
        }
        else if (!_authority.TryVerifyWorkload(certificate, out var identity, out var error))
        {
            reason = error;
        }
        else if (identity!.ToString() != expected)
        {
            reason = $"it is {identity}, not {expected}, the workload the proxy reported as";
        }
        else
        {
            return true;
        }

        if (request.Options.TryGetValue(PeerRefusal, out var refusal))
        {
            refusal.Set(reason);
        }

        return false;
    }

    /// <summary>The control plane's certificate and the clients that present it, one per workload.</summary>
    private sealed record Mtls(X509Certificate2 Certificate, string Root, DateTimeOffset RenewAt) : IDisposable
    {
        public Dictionary<string, HttpClient> Clients { get; } = new(StringComparer.Ordinal);

        public void Dispose()
        {
            foreach (var client in Clients.Values)
            {
                client.Dispose();
            }

            Certificate.Dispose();
        }
    }

    /// <summary>Why the validation callback refused a proxy's certificate, for the error that follows.</summary>
    private sealed class Refusal
    {
        public string? Reason { get; private set; }

        public void Set(string reason) => Reason = reason;
    }
}
