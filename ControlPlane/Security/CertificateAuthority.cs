using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Storage;
using AspireMesh.ControlPlane.State;
using AspireMesh.ControlPlane.Storage;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Security;

/// <summary>
/// The mesh's certificate authority: a root generated on first start and kept in the state directory (or one the user
/// supplies), workload certificates issued from CSRs with a SPIFFE URI SAN, and root rotation where the previous root
/// stays in the trust bundle for an overlap so that certificates issued under either are trusted meanwhile.
/// </summary>
internal sealed class CertificateAuthority : IDisposable
{
    private const string Folder = "ca";
    private const string StateFile = "ca.json";
    private readonly Lock _gate = new();
    private readonly StateDirectory _directory;
    private readonly MeshStateStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<CertificateAuthority> _logger;
    private readonly ControlPlaneOptions _options;
    private readonly List<Root> _roots = [];
    private ITimer? _retireTimer;

    /// <summary>The root given in <see cref="ControlPlaneOptions.CaCertificate"/>, which clients are handed as the one to trust.</summary>
    private string? _supplied;

    public CertificateAuthority(StateDirectory directory, MeshStateStore store, TimeProvider time, IOptions<ControlPlaneOptions> options, ILogger<CertificateAuthority> logger)
    {
        _directory = directory;
        _store = store;
        _time = time;
        _logger = logger;
        _options = options.Value;
        if (_options.CertificateLifetime < TimeSpan.FromSeconds(1))
        {
            throw new InvalidDataException($"ControlPlane:CertificateLifetime is {_options.CertificateLifetime}: it must be at least one second.");
        }

        TrustDomain = _options.TrustDomain;
        // SPIFFE trust domains are lower case; one that does not read back as itself (upper case, a port, a path) would
        // name identities no certificate check could match.
        if (!SpiffeId.TryParse($"spiffe://{TrustDomain}/ns/a/sa/b", out var probe) || probe.TrustDomain != TrustDomain)
        {
            throw new InvalidDataException($"ControlPlane:TrustDomain '{TrustDomain}' is not a valid trust domain (a lower-case DNS-like name such as cluster.local).");
        }

        var source = Load();
        RetireExpired();
        Publish();
        var issuing = Issuing;
        ControlPlaneLog.CertificateAuthorityReady(logger, TrustDomain, issuing.Thumbprint, issuing.Certificate.NotAfter, source);
    }

    public string TrustDomain { get; }

    public TimeSpan Lifetime => _options.CertificateLifetime;

    private Root Issuing
    {
        get
        {
            lock (_gate)
            {
                return _roots.First(r => r.RetiresAt is null);
            }
        }
    }

    /// <summary>Every root that is trusted, the issuing one first.</summary>
    public IReadOnlyList<CertificateAuthorityRoot> Roots()
    {
        lock (_gate)
        {
            return [.. _roots.OrderBy(r => r.RetiresAt is null ? 0 : 1).Select(r => new CertificateAuthorityRoot(r.Thumbprint, r.RetiresAt is null,
                r.Certificate.NotAfter, r.RetiresAt, r.Certificate.ExportCertificatePem()))];
        }
    }

    /// <summary>The trust bundle, PEM per root.</summary>
    public IReadOnlyList<string> Bundle() => [.. Roots().Select(r => r.Pem)];

    /// <summary>
    /// Signs a certificate for <paramref name="identity"/> over the public key of <paramref name="csrPem"/> (whose own
    /// signature must verify); the CSR's requested names and extensions are ignored: the CA decides the identity.
    /// </summary>
    public IssuedCertificate Issue(SpiffeId identity, string csrPem)
    {
        ArgumentNullException.ThrowIfNull(identity);
        // A workload's identity is exactly what it says, and never the control plane's (which only the control plane holds).
        if (!SpiffeId.TryParse(identity.ToString(), out var parsed) || parsed != identity || identity.Namespace == SpiffeId.ControlPlaneNamespace)
        {
            throw new CertificateRequestException($"'{identity}' is not an identity this CA issues to workloads.");
        }

        CertificateRequest request;
        try
        {
            request = CertificateRequest.LoadSigningRequestPem(csrPem, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.Default);
        }
        catch (CryptographicException ex)
        {
            throw new CertificateRequestException($"the CSR is not a valid PKCS#10 request: {ex.Message}");
        }

        var key = request.PublicKey;
        if (key.Oid.Value is not ("1.2.840.10045.2.1" or "1.2.840.113549.1.1.1"))
        {
            throw new CertificateRequestException($"the CSR's key type {key.Oid.FriendlyName ?? key.Oid.Value} is not supported: use ECDSA or RSA.");
        }

        var issuing = Issuing;
        var leaf = new CertificateRequest(new X500DistinguishedName($"O=AspireMesh, CN={identity.Account}"), key, HashAlgorithmName.SHA256);
        leaf.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leaf.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        leaf.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddUri(new Uri(identity.ToString()));
        leaf.CertificateExtensions.Add(names.Build(critical: true));
        leaf.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(key, false));
        AddIssuerKeyId(leaf, issuing.Certificate);

        var now = _time.GetUtcNow();
        var notAfter = now + Lifetime;
        if (notAfter > issuing.Certificate.NotAfter)
        {
            notAfter = issuing.Certificate.NotAfter;
        }

        // A minute of slack for clocks that run slightly behind the control plane's.
        using var certificate = leaf.Create(issuing.Certificate, now - TimeSpan.FromMinutes(1), notAfter, RandomNumberGenerator.GetBytes(16));
        return new IssuedCertificate(identity.ToString(), certificate.ExportCertificatePem() + "\n", string.Join('\n', Bundle()), notAfter);
    }

    /// <summary>
    /// A server certificate (and its new private key) for the control plane's HTTPS listeners, for
    /// <paramref name="names"/> and <paramref name="addresses"/>. It is issued by the oldest root that stays in the bundle
    /// for a while yet, the one every proxy has trusted longest: right after a rotation, proxies that have not yet received
    /// the new bundle keep connecting (see <see cref="Serving"/>). <paramref name="root"/> is that root's thumbprint.
    /// </summary>
    public X509Certificate2 IssueServer(IReadOnlyList<string> names, IReadOnlyList<System.Net.IPAddress> addresses, out string root)
    {
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
        {
            san.AddDnsName(name);
        }

        foreach (var address in addresses)
        {
            san.AddIpAddress(address);
        }

        return IssueOwn("CN=AspireMesh control plane", ServerAuthentication, san.Build(), out root);
    }

    /// <summary>
    /// The control plane's own client certificate, with <see cref="SpiffeId.ControlPlane"/> as its only name, which it
    /// presents to proxies' telemetry listeners; issued by the same root as <see cref="IssueServer"/>, for the same reason.
    /// </summary>
    public X509Certificate2 IssueControlPlaneClient(out string root)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(SpiffeId.ControlPlane(TrustDomain).ToString()));
        return IssueOwn($"CN={SpiffeId.ControlPlaneAccount}", ClientAuthentication, san.Build(critical: true), out root);
    }

    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>A certificate for the control plane itself, with a new key, from the root <see cref="Serving"/> names.</summary>
    private X509Certificate2 IssueOwn(string commonName, string usage, X509Extension names, out string root)
    {
        var now = _time.GetUtcNow();
        var issuer = Serving(now);
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"O=AspireMesh, OU={TrustDomain}, {commonName}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        request.CertificateExtensions.Add(names);
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        AddIssuerKeyId(request, issuer.Certificate);
        var notAfter = new[] { now + Lifetime, (DateTimeOffset)issuer.Certificate.NotAfter, issuer.RetiresAt ?? DateTimeOffset.MaxValue }.Min();
        using var certificate = request.Create(issuer.Certificate, now - TimeSpan.FromMinutes(1), notAfter, RandomNumberGenerator.GetBytes(16));
        root = issuer.Thumbprint;
        return certificate.CopyWithPrivateKey(key);
    }

    /// <summary>The thumbprint of the root that issues the control plane's server certificate at <paramref name="now"/>.</summary>
    public string ServingRoot(DateTimeOffset now) => Serving(now).Thumbprint;

    /// <summary>
    /// Whether <paramref name="certificate"/> is a current workload certificate of this mesh (its chain ends in a root of
    /// the bundle); its SPIFFE ID when it is.
    /// </summary>
    public bool TryVerifyWorkload(X509Certificate2 certificate, out SpiffeId? identity, out string error)
    {
        identity = null;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        lock (_gate)
        {
            foreach (var root in _roots)
            {
                chain.ChainPolicy.CustomTrustStore.Add(root.Certificate);
            }
        }

        if (!chain.Build(certificate))
        {
            error = $"the current certificate is not valid in this mesh: {string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()))}";
            return false;
        }

        if (!SpiffeId.TryFrom(certificate, out identity) || identity.TrustDomain != TrustDomain)
        {
            error = "the current certificate carries no SPIFFE ID of this trust domain";
            return false;
        }

        error = "";
        return true;
    }

    /// <summary>
    /// Makes a new root the issuing one (generated, or the given PEM pair); the previous one stays in the bundle for the
    /// overlap, then leaves it.
    /// </summary>
    public CertificateAuthorityRoot Rotate(string? certificatePem = null, string? keyPem = null)
    {
        var next = certificatePem is null ? Generate() : Supplied(certificatePem, keyPem ?? throw new CertificateRequestException("a supplied root needs its private key too."));
        DateTimeOffset retiresAt;
        string previous;
        lock (_gate)
        {
            var current = _roots.First(r => r.RetiresAt is null);
            previous = current.Thumbprint;
            retiresAt = _time.GetUtcNow() + (_options.RootOverlap ?? (Lifetime * 2));
            _roots[_roots.IndexOf(current)] = current with { RetiresAt = retiresAt };
            _roots.Insert(0, next);
            Save();
            ArmRetirementLocked(_time.GetUtcNow());
        }

        ControlPlaneLog.RootRotated(_logger, next.Thumbprint, previous, retiresAt);
        Publish();
        return Roots()[0];
    }

    public void Dispose()
    {
        _retireTimer?.Dispose();
        lock (_gate)
        {
            foreach (var root in _roots)
            {
                root.Certificate.Dispose();
            }
        }
    }

    private string Load()
    {
        var saved = ReadState();
        if (saved is not null)
        {
            foreach (var entry in saved.Roots)
            {
                var certificate = X509Certificate2.CreateFromPemFile(_directory.PathOf(Path.Combine(Folder, $"{entry.Thumbprint}.crt.pem")),
                    _directory.PathOf(Path.Combine(Folder, $"{entry.Thumbprint}.key.pem")));
                _roots.Add(new Root(certificate, entry.Thumbprint, entry.RetiresAt));
            }
        }

        if (!string.IsNullOrEmpty(_options.CaCertificate))
        {
            var supplied = Supplied(File.ReadAllText(_options.CaCertificate),
                File.ReadAllText(_options.CaKey ?? throw new InvalidDataException("ControlPlane:CaCertificate is set but ControlPlane:CaKey (its private key, PEM) is not.")));
            if (_roots.FirstOrDefault(r => r.RetiresAt is null) is { } issuing && issuing.Thumbprint != supplied.Thumbprint)
            {
                // A newly supplied root replaces the generated one, which stays trusted for the overlap.
                _roots[_roots.IndexOf(issuing)] = issuing with { RetiresAt = _time.GetUtcNow() + (_options.RootOverlap ?? (Lifetime * 2)) };
            }

            _roots.RemoveAll(r => r.Thumbprint == supplied.Thumbprint);
            _roots.Insert(0, supplied);
            _supplied = supplied.Thumbprint;
            Save();
            return _options.CaCertificate;
        }

        if (_roots.Count > 0 && _roots.Any(r => r.RetiresAt is null))
        {
            return _directory.PathOf(Folder);
        }

        _roots.Insert(0, Generate());
        Save();
        return $"a new root generated in {_directory.PathOf(Folder)}";
    }

    private Root Generate()
    {
        var certificate = MeshRootCertificate.Create(TrustDomain, _time.GetUtcNow());
        return new Root(certificate, certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant(), null);
    }

    private static Root Supplied(string certificatePem, string keyPem)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new CertificateRequestException($"the supplied root certificate and key do not load: {(ex is ArgumentException ? "the key is not the certificate's" : ex.Message)}");
        }

        if (MeshRootCertificate.Unusable(certificate) is { } problem)
        {
            certificate.Dispose();
            throw new CertificateRequestException($"the supplied root cannot issue: {problem}.");
        }

        return new Root(certificate, certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant(), null);
    }

    /// <summary>Drops roots whose overlap has ended and arms a timer for the next one.</summary>
    private void RetireExpired()
    {
        var now = _time.GetUtcNow();
        List<Root> retired;
        lock (_gate)
        {
            retired = [.. _roots.Where(r => r.RetiresAt is { } at && at <= now)];
            if (retired.Count > 0)
            {
                _roots.RemoveAll(retired.Contains);
                Save();
            }

            ArmRetirementLocked(now);
        }

        foreach (var root in retired)
        {
            ControlPlaneLog.RootRetired(_logger, root.Thumbprint);
            root.Certificate.Dispose();
        }
    }

    private void ArmRetirementLocked(DateTimeOffset now)
    {
        _retireTimer?.Dispose();
        _retireTimer = null;
        if (_roots.Where(r => r.RetiresAt is not null).Select(r => r.RetiresAt!.Value).Order().FirstOrDefault() is { } next && next != default)
        {
            _retireTimer = _time.CreateTimer(_ =>
            {
                RetireExpired();
                Publish();
            }, null, (next - now).Duration() + TimeSpan.FromMilliseconds(10), Timeout.InfiniteTimeSpan);
        }
    }

    private void Publish() => _store.SetTrust(TrustDomain, Bundle());

    private CaState? ReadState()
    {
        var path = _directory.PathOf(Path.Combine(Folder, StateFile));
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), ControlPlaneJsonContext.Default.CaState);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"the CA state {path} is damaged: {ex.Message}. Restore it from a backup, or move the folder away to generate a new root (every proxy then needs a new bootstrap credential).", ex);
        }
    }

    private void Save()
    {
        foreach (var root in _roots)
        {
            var certPath = _directory.PathOf(Path.Combine(Folder, $"{root.Thumbprint}.crt.pem"));
            if (!File.Exists(certPath))
            {
                DurableFile.Write(_directory.PathOf(Path.Combine(Folder, $"{root.Thumbprint}.key.pem")), Encoding.ASCII.GetBytes(MeshRootCertificate.ExportKeyPem(root.Certificate)), UnixFileMode.UserRead | UnixFileMode.UserWrite);
                DurableFile.Write(certPath, Encoding.ASCII.GetBytes(root.Certificate.ExportCertificatePem()));
            }
        }

        DurableFile.Write(_directory.PathOf(Path.Combine(Folder, StateFile)),
            JsonSerializer.SerializeToUtf8Bytes(new CaState([.. _roots.Select(r => new CaStateRoot(r.Thumbprint, r.RetiresAt))]), ControlPlaneJsonContext.Default.CaState));
    }

    /// <summary>
    /// The root the control plane's own certificates come from. A supplied root (<see cref="ControlPlaneOptions.CaCertificate"/>),
    /// while it stays in the bundle for a while more: clients are handed that one (a published topology's
    /// <c>ASPIREMESH_CONTROL_PLANE_CA</c>), also when it replaced a root the state directory kept, and a new pod knows no
    /// other. Otherwise the oldest root (the list is newest first) that stays for a while more, so that after a rotation
    /// the switch comes after proxies have had time to receive the new root. "A while": ten minutes, or half the overlap
    /// when that is shorter.
    /// </summary>
    private Root Serving(DateTimeOffset now)
    {
        var overlapHalf = (_options.RootOverlap ?? (Lifetime * 2)) / 2;
        var margin = overlapHalf < TimeSpan.FromMinutes(10) ? overlapHalf : TimeSpan.FromMinutes(10);
        lock (_gate)
        {
            bool Staying(Root r) => r.RetiresAt is null || r.RetiresAt > now + margin;
            return _roots.FirstOrDefault(r => r.Thumbprint == _supplied && Staying(r)) ?? _roots.Last(Staying);
        }
    }

    /// <summary>Names the issuing root by its key identifier, or (a supplied root may lack one) by its name and serial.</summary>
    private static void AddIssuerKeyId(CertificateRequest request, X509Certificate2 root)
    {
        var rootHasKeyId = root.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Any();
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, includeKeyIdentifier: rootHasKeyId, includeIssuerAndSerial: !rootHasKeyId));
    }

    private sealed record Root(X509Certificate2 Certificate, string Thumbprint, DateTimeOffset? RetiresAt);
}

/// <summary>What the CA keeps about its roots (their PEM files sit beside it).</summary>
internal sealed record CaState(IReadOnlyList<CaStateRoot> Roots);

/// <summary>One root: its file name and, once rotated out, when it leaves the bundle.</summary>
internal sealed record CaStateRoot(string Thumbprint, DateTimeOffset? RetiresAt);

/// <summary>A CSR or a supplied root that cannot be used; the message says why.</summary>
internal sealed class CertificateRequestException(string message) : Exception(message);
