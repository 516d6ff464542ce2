using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Security;

/// <summary>
/// The certificate of the control plane's HTTPS listeners, issued by its own CA: proxies and the CLI trust it by the mesh's
/// root, which they are given, as Istio's istiod serves its xDS and CSR port. It names localhost, this machine, the
/// loopback addresses, the hosts of the listeners' URLs and <see cref="ControlPlaneOptions.ServerNames"/>; it is issued
/// again at half its lifetime, and when the root that should issue it changes (a rotation, once the old root is leaving).
/// </summary>
internal sealed class ServerCertificate
{
    private readonly Lock _gate = new();
    private readonly CertificateAuthority _authority;
    private readonly TimeProvider _time;
    private readonly ILogger<ServerCertificate> _logger;
    private Issued? _current;

    public ServerCertificate(CertificateAuthority authority, IOptions<ControlPlaneOptions> options, IConfiguration configuration, TimeProvider time, ILogger<ServerCertificate> logger)
    {
        _authority = authority;
        _time = time;
        _logger = logger;
        var hosts = new List<string> { "localhost", "127.0.0.1", "::1" };
        if (Uri.CheckHostName(Environment.MachineName) == UriHostNameType.Dns)
        {
            hosts.Add(Environment.MachineName);
        }

        hosts.AddRange(UrlHosts(configuration["urls"]));
        foreach (var given in (options.Value.ServerNames ?? "").Split([',', ' ', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            hosts.Add(Uri.CheckHostName(given) is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6 ? given
                : throw new InvalidDataException($"ControlPlane:ServerNames: '{given}' is neither a host name nor an IP address."));
        }

        Addresses = [.. hosts.Select(h => IPAddress.TryParse(h, out var a) ? a : null).OfType<IPAddress>().Distinct()];
        Names = [.. hosts.Where(h => !IPAddress.TryParse(h, out _)).Distinct(StringComparer.OrdinalIgnoreCase)];
    }

    /// <summary>Whether <paramref name="urls"/> (the <c>urls</c> setting) has an HTTPS listener.</summary>
    public static bool AnyHttps(string? urls) => (urls ?? "").Contains("https://", StringComparison.OrdinalIgnoreCase);

    public IReadOnlyList<string> Names { get; }

    public IReadOnlyList<IPAddress> Addresses { get; }

    /// <summary>The certificate to present now (issued on first use, and again when due).</summary>
    public X509Certificate2 Current()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_current is { } current && now < current.RenewAt && current.Root == _authority.ServingRoot(now))
            {
                return current.Certificate;
            }

            // The certificate presented before is left to the GC, not disposed: a handshake may be using it still.
            var certificate = _authority.IssueServer(Names, Addresses, out var root);
            _current = new Issued(certificate, root, now + ((certificate.NotAfter - now) / 2));
            ControlPlaneLog.ServerCertificateIssued(_logger, string.Join(", ", Names.Concat(Addresses.Select(a => a.ToString()))), root, certificate.NotAfter);
            return certificate;
        }
    }

    /// <summary>The hosts named by listener URLs (<c>https://cp.example:8443;http://+:80</c>), wildcards and any-address left out.</summary>
    private static IEnumerable<string> UrlHosts(string? urls)
    {
        foreach (var url in (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var start = url.IndexOf("://", StringComparison.Ordinal);
            if (start < 0)
            {
                continue;
            }

            var rest = url[(start + 3)..];
            var host = rest.StartsWith('[') ? rest[1..Math.Max(1, rest.IndexOf(']', StringComparison.Ordinal))] : rest.Split(':', '/')[0];
            if (host is "+" or "*" or "" || (IPAddress.TryParse(host, out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))))
            {
                continue;
            }

            if (Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6)
            {
                yield return host;
            }
        }
    }

    private sealed record Issued(X509Certificate2 Certificate, string Root, DateTimeOffset RenewAt);
}
