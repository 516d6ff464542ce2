using System.Net;
using System.Net.Security;
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
    private static readonly HttpRequestOptionsKey<string> ExpectedPeer = new("aspiremesh.expected-peer");
    private static readonly HttpRequestOptionsKey<Refusal> PeerRefusal = new("aspiremesh.peer-refusal");
    private readonly Lock _gate = new();
    private readonly CertificateAuthority _authority;
    private readonly TimeProvider _time;
    private readonly ILogger<ProxyReader> _logger;
    private readonly HttpClient _plain = new() { Timeout = Timeout.InfiniteTimeSpan };
    private Mtls? _mtls;
    private HttpClient? _retired;

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
        var (client, address) = proxy.TelemetryAddress is { } telemetry ? (Mutual(), telemetry) : (_plain, proxy.AdminAddress
            ?? throw new HttpRequestException($"proxy {proxy.Id} reported no address to read it at."));
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(address.TrimEnd('/') + "/"), pathAndQuery));
        var refusal = new Refusal();
        if (proxy.TelemetryAddress is not null)
        {
            request.Options.Set(ExpectedPeer, SpiffeId.For(_authority.TrustDomain, proxy.Kind, proxy.Name).ToString());
            request.Options.Set(PeerRefusal, refusal);
        }

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
    }

    public void Dispose()
    {
        _plain.Dispose();
        lock (_gate)
        {
            _mtls?.Client.Dispose();
            _retired?.Dispose();
        }
    }

    /// <summary>The client for telemetry listeners, with a current certificate of the control plane's.</summary>
    private HttpClient Mutual()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_mtls is { } current && now < current.RenewAt && current.Root == _authority.ServingRoot(now))
            {
                return current.Client;
            }

            using var issued = _authority.IssueControlPlaneClient(out var root);
            // Exported and loaded again: SslStream on Linux hands OpenSSL a certificate whose key travels with it.
            var certificate = X509CertificateLoader.LoadPkcs12(issued.Export(X509ContentType.Pkcs12), null);
            var handler = new HttpClientHandler
            {
                ClientCertificateOptions = ClientCertificateOption.Manual,
                ServerCertificateCustomValidationCallback = ValidateProxy,
                CheckCertificateRevocationList = false,
                SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
            };
            handler.ClientCertificates.Add(certificate);
            // The client before the last is let go now: what it was reading (a tap) has had a half-lifetime to end.
            _retired?.Dispose();
            _retired = _mtls?.Client;
            _mtls = new Mtls(new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }, root, now + ((certificate.NotAfter - now) / 2));
            ControlPlaneLog.ClientCertificateIssued(_logger, SpiffeId.ControlPlane(_authority.TrustDomain).ToString(), root, certificate.NotAfter);
            return _mtls.Client;
        }
    }

    /// <summary>
    /// The proxy's certificate must chain to a root of the mesh and name the workload the proxy reported as; its host
    /// name is not checked (a pod's IP is in no certificate), as SPIFFE peers are authenticated by their ID.
    /// </summary>
    private bool ValidateProxy(HttpRequestMessage request, X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        request.Options.TryGetValue(PeerRefusal, out var refusal);
        if (!request.Options.TryGetValue(ExpectedPeer, out var expected))
        {
            return false;
        }

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

        refusal?.Set(reason);
        return false;
    }

    private sealed record Mtls(HttpClient Client, string Root, DateTimeOffset RenewAt);

    /// <summary>Why the validation callback refused a proxy's certificate, for the error that follows.</summary>
    private sealed class Refusal
    {
        public string? Reason { get; private set; }

        public void Set(string reason) => Reason = reason;
    }
}
