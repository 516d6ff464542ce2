using System.Net;
using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Storage;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Security;

/// <summary>
/// A proxy's mesh identity: its workload certificate (key generated here, never sent anywhere; certificate issued by the
/// control plane's CA from a CSR), renewed at half-life, and the trust bundle it checks peers against. Kept in the
/// proxy's state directory so a restarted proxy keeps its identity without a new bootstrap credential. Every new TLS
/// handshake uses the newest certificate and bundle; established connections are not disturbed by a renewal.
/// </summary>
public sealed class WorkloadIdentity : IRegistrationCredential, IAsyncDisposable
{
    private const string TokenFile = "registration.token";
    private readonly string _kind;
    private readonly string _name;
    private readonly string _instance;
    private readonly string _directory;
    private readonly ControlPlaneClient _client;
    private readonly string? _bootstrapCredential;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private volatile Credential? _current;
    private volatile X509Certificate2Collection _bundle = [];
    private string _bundleText = "";
    private Task? _renewal;
    private volatile TaskCompletionSource _renewNow = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _lastForcedRenewalTicks;

    /// <param name="kind"><c>sidecar</c> or <c>gateway</c>.</param>
    /// <param name="name">The service (or gateway) name.</param>
    /// <param name="instance">This proxy's id.</param>
    /// <param name="stateDirectory">Where the key, certificate and bundle are kept.</param>
    /// <param name="client">The control plane.</param>
    /// <param name="bootstrapCredential">The credential for the first certificate (from <see cref="BootstrapCredential.EnvironmentVariable"/>).</param>
    /// <param name="logger">Where renewals and refusals are logged.</param>
    /// <param name="time">The clock.</param>
    public WorkloadIdentity(string kind, string name, string instance, string stateDirectory, ControlPlaneClient client, string? bootstrapCredential, ILogger logger, TimeProvider? time = null)
    {
        _kind = kind;
        _name = name;
        _instance = instance;
        _directory = Path.Combine(stateDirectory, "identity");
        _client = client;
        _bootstrapCredential = string.IsNullOrWhiteSpace(bootstrapCredential) ? null : bootstrapCredential.Trim();
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The current certificate, with its private key.</summary>
    public X509Certificate2 Certificate => (_current ?? throw new InvalidOperationException("The workload identity has not been obtained yet.")).Certificate;

    /// <summary>Raised after each renewal.</summary>
    public event Action? Renewed;

    /// <summary>This proxy's SPIFFE ID.</summary>
    public SpiffeId Id => (_current ?? throw new InvalidOperationException("The workload identity has not been obtained yet.")).Id;

    /// <summary>When the current certificate expires.</summary>
    public DateTimeOffset NotAfter => Certificate.NotAfter;

    /// <summary>Serial number of the current certificate (changes at every renewal).</summary>
    public string Serial => Certificate.SerialNumber;

    /// <summary>
    /// What this proxy registers and reports with (<see cref="Contracts.Security.RegistrationToken"/>): issued with each
    /// certificate, for as long as it is valid. Null until the control plane has issued one (a certificate kept from a
    /// build before tokens is renewed at once to get one).
    /// </summary>
    public string? RegistrationToken => _current?.RegistrationToken;

    /// <summary>
    /// Gets the identity: the kept one when still valid, else a new certificate with the bootstrap credential (retrying
    /// while the control plane is unreachable); then renews it in the background. Throws <see cref="IdentityException"/>
    /// when the control plane refuses the credential, or when there is none and nothing kept.
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        if (ControlPlaneTrust.InTheClear(_client.Address))
        {
            ProxyEngineLog.ControlPlaneInTheClear(_logger, _client.Address!);
        }

        if (TryLoadKept() is { } kept && await StillTrustedAsync(kept, cancellationToken).ConfigureAwait(false))
        {
            // Kept by a build that got no registration token: renew now (in the background, so that the proxy serves
            // meanwhile, also while the control plane is down) to get one.
            Install(kept.RegistrationToken is null ? kept with { RenewAt = _time.GetUtcNow() } : kept, "kept in the state directory");
        }
        else
        {
            if (_bootstrapCredential is null)
            {
                throw new IdentityException($"no workload certificate is kept in {_directory} and no bootstrap credential was given: set {BootstrapCredential.EnvironmentVariable} " +
                    "(the AppHost does this for the proxies it starts; or mint one with POST /v1/bootstrap-credentials on the control plane).");
            }

            Install(await RequestWithRetryAsync(renewal: false, cancellationToken).ConfigureAwait(false), "issued with the bootstrap credential");
        }

        _renewal = Task.Run(() => RenewLoopAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>
    /// <see cref="InitializeAsync"/> until SIGTERM or SIGINT: a proxy stopped while it waits for its first certificate
    /// (the control plane down or not trusted) exits at once, saying so, instead of being ended by the signal. False
    /// when it was stopped.
    /// </summary>
    public async Task<bool> InitializeUnlessStoppedAsync()
    {
        using var stop = new CancellationTokenSource();
        var gate = new Lock();
        var waiting = true;
        var signal = "";
        void Stop(PosixSignalContext context)
        {
            lock (gate)
            {
                // Once the wait is over the signal does what it would have done (the listeners' hosts take it over).
                if (waiting)
                {
                    context.Cancel = true;
                    signal = context.Signal.ToString();
                    stop.Cancel();
                }
            }
        }

        try
        {
            using (PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop))
            using (PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop))
            {
                try
                {
                    await InitializeAsync(stop.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (stop.IsCancellationRequested && ex is not IdentityException)
                {
                    // Cancelled, or a failed attempt the cancellation cut short: either way the proxy was stopped.
                }
            }
        }
        finally
        {
            lock (gate)
            {
                waiting = false;
            }
        }

        // Also when the certificate came after the signal: the stop was asked for, and the signal is spent.
        if (stop.IsCancellationRequested)
        {
            ProxyEngineLog.StoppedBeforeIdentity(_logger, signal);
            return false;
        }

        return true;
    }

    /// <summary>What the identity's client trusts the control plane's certificate by (the trust bundle joins it), when known.</summary>
    public ControlPlaneTrust? ControlPlaneTrust => _client.Trust;

    /// <summary>Replaces the trust bundle (the control plane sends it in every snapshot; a root rotation changes it).</summary>
    public void UpdateTrustBundle(IReadOnlyList<string> roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        var text = string.Join('\n', roots);
        if (roots.Count == 0 || text == Volatile.Read(ref _bundleText))
        {
            return;
        }

        var bundle = new X509Certificate2Collection();
        foreach (var pem in roots)
        {
            bundle.ImportFromPem(pem);
        }

        _bundle = bundle;
        _client.Trust?.UseMeshRoots(roots);
        Volatile.Write(ref _bundleText, text);
        TryKeep("bundle.pem", text);
        ProxyEngineLog.TrustBundleUpdated(_logger, bundle.Count);
    }

    /// <summary>
    /// Checks a peer's certificate: its chain ends in a root of the bundle, it is current, and it carries a SPIFFE ID of
    /// this trust domain (and <paramref name="expected"/>, when given). Its identity when it passes; otherwise why not.
    /// </summary>
    public bool TryValidatePeer(X509Certificate2? certificate, string? expected, out SpiffeId? peer, out string reason)
    {
        peer = null;
        if (certificate is null)
        {
            reason = "the peer presented no certificate";
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = _time.GetUtcNow().UtcDateTime;
        chain.ChainPolicy.CustomTrustStore.AddRange(_bundle);
        if (!chain.Build(certificate))
        {
            reason = $"certificate '{certificate.Subject}' (issuer '{certificate.Issuer}', valid {certificate.NotBefore:u} to {certificate.NotAfter:u}) is not valid in this mesh: " +
                string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());
            return false;
        }

        if (!SpiffeId.TryFrom(certificate, out peer) || peer.TrustDomain != Id.TrustDomain)
        {
            reason = $"certificate '{certificate.Subject}' carries no SPIFFE ID of trust domain {Id.TrustDomain}";
            peer = null;
            return false;
        }

        if (expected is not null && peer.ToString() != expected)
        {
            reason = $"the peer is {peer}, not the expected {expected}";
            return false;
        }

        reason = "";
        return true;
    }

    /// <summary>TLS settings of a connection this proxy opens to a peer whose identity must be <paramref name="expected"/>.</summary>
    public void ConfigureClient(SslClientAuthenticationOptions ssl, string? expected)
    {
        ArgumentNullException.ThrowIfNull(ssl);
        ssl.LocalCertificateSelectionCallback = (_, _, _, _, _) => Certificate;
        ssl.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            using var copy = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            if (TryValidatePeer(copy, expected, out _, out var reason))
            {
                return true;
            }

            ProxyEngineLog.PeerRefused(_logger, "upstream", reason);
            return false;
        };
        ssl.CertificateRevocationCheckMode = X509RevocationMode.NoCheck;
    }

    /// <summary>
    /// The control plane refused this proxy's registration token (its bootstrap key was rotated, say): renew now, for a
    /// new one. At most once a minute, however often it is called.
    /// </summary>
    public void RegistrationTokenRefused(HttpStatusCode status)
    {
        var now = _time.GetUtcNow().UtcTicks;
        var last = Interlocked.Read(ref _lastForcedRenewalTicks);
        if (_current is null || now - last < TimeSpan.TicksPerMinute || Interlocked.CompareExchange(ref _lastForcedRenewalTicks, now, last) != last)
        {
            return;
        }

        ProxyEngineLog.RegistrationTokenRefused(_logger, (int)status);
        _renewNow.TrySetResult();
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_renewal is not null)
        {
            await _renewal.ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private async Task RenewLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var wait = _current!.RenewAt - _time.GetUtcNow();
            try
            {
                if (wait > TimeSpan.Zero)
                {
                    await Task.WhenAny(Task.Delay(wait, _time, cancellationToken), _renewNow.Task).ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                }

                _renewNow = new(TaskCreationOptions.RunContinuationsAsynchronously);

                Install(await RequestWithRetryAsync(renewal: true, cancellationToken).ConfigureAwait(false), "renewed");
                Renewed?.Invoke();
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Asks until the control plane answers: unreachable means retry (1 s doubling to 30 s); refused is final.</summary>
    private async Task<Credential> RequestWithRetryAsync(bool renewal, CancellationToken cancellationToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await RequestAsync(renewal, cancellationToken).ConfigureAwait(false);
            }
            catch (ControlPlaneException ex) when (!renewal && ex.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.BadRequest)
            {
                throw new IdentityException($"the control plane refused a certificate for {_kind} '{_name}': {ex.Message}", ex);
            }
            catch (Exception ex) when (ex is HttpRequestException or ControlPlaneException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // A refused renewal is retried too: the current certificate stays valid until it expires, and an operator can fix the cause.
                ProxyEngineLog.CertificateRequestFailed(_logger, attempt, delay.TotalSeconds, ex.Message);
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromSeconds(Math.Min(30, delay.TotalSeconds * 2));
            }
        }
    }

    private async Task<Credential> RequestAsync(bool renewal, CancellationToken cancellationToken)
    {
        // Not disposed: the certificate made with it below shares the key for as long as it serves.
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={_name}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var request = new CertificateSigningRequest(_kind, _name, _instance, csr);
        if (renewal)
        {
            var current = _current!.Certificate;
            using var currentKey = current.GetECDsaPrivateKey()!;
            request = request with
            {
                CurrentCertificate = current.ExportCertificatePem(),
                Proof = Convert.ToBase64String(currentKey.SignData(Encoding.UTF8.GetBytes(csr), HashAlgorithmName.SHA256)),
            };
        }

        var issued = await _client.RequestCertificateAsync(request, renewal ? null : _bootstrapCredential, cancellationToken).ConfigureAwait(false);
        // The answer may complete on a socket event thread (--io auto and inline), which must never wait: the files
        // below are written with fsync on the thread pool.
        await Task.Yield();
        using var certificate = X509Certificate2.CreateFromPem(issued.CertificateChain);
        var withKey = certificate.CopyWithPrivateKey(key);
        TryKeep("key.pem", key.ExportPkcs8PrivateKeyPem(), secret: true);
        TryKeep("cert.pem", issued.CertificateChain);
        if (issued.RegistrationToken is { } token)
        {
            TryKeep(TokenFile, token, secret: true);
        }
        else
        {
            // A control plane of 0.1.0 sends none: a token kept from a newer one is not this certificate's.
            TryForget(TokenFile);
        }

        UpdateTrustBundle([issued.TrustBundle]);
        return Credential.For(withKey, _time.GetUtcNow(), issued.RegistrationToken);
    }

    /// <summary>
    /// Whether a kept certificate is still good in the mesh it will serve: checked against the control plane's current
    /// roots when it answers (a state directory may hold a certificate of another mesh), trusted as kept when it does not.
    /// </summary>
    private async Task<bool> StillTrustedAsync(Credential kept, CancellationToken cancellationToken)
    {
        string roots;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            roots = await _client.GetTrustBundleAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or ControlPlaneException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return true;
        }

        await Task.Yield(); // off a socket event thread before the bundle is written (see RequestAsync)
        UpdateTrustBundle([roots]);
        _current = kept;
        if (TryValidatePeer(kept.Certificate, expected: null, out _, out var reason))
        {
            return true;
        }

        _current = null;
        ProxyEngineLog.CertificateRequestFailed(_logger, 0, 0, $"the kept certificate is not trusted by this control plane ({reason}); asking for a new one");
        return _bootstrapCredential is null
            ? throw new IdentityException($"the certificate kept in {_directory} is not trusted by the control plane at its current roots, and no bootstrap credential was given ({BootstrapCredential.EnvironmentVariable}).")
            : false;
    }

    private void Install(Credential credential, string how)
    {
        _current = credential;
        ProxyEngineLog.CertificateLoaded(_logger, credential.Id.ToString(), credential.Certificate.SerialNumber, credential.Certificate.NotAfter, credential.RenewAt, how);
    }

    private Credential? TryLoadKept()
    {
        try
        {
            var certPath = Path.Combine(_directory, "cert.pem");
            var keyPath = Path.Combine(_directory, "key.pem");
            var bundlePath = Path.Combine(_directory, "bundle.pem");
            if (!File.Exists(certPath) || !File.Exists(keyPath) || !File.Exists(bundlePath))
            {
                return null;
            }

            var certificate = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            var now = _time.GetUtcNow();
            // Kept only if it is ours and has some life left; else the bootstrap credential gets a new one.
            if (certificate.NotAfter <= now.UtcDateTime + TimeSpan.FromSeconds(1) || !SpiffeId.TryFrom(certificate, out var id)
                || id.Workload != SpiffeId.WorkloadName(_kind, _name))
            {
                certificate.Dispose();
                return null;
            }

            UpdateTrustBundle([File.ReadAllText(bundlePath)]);
            return Credential.For(certificate, now, KeptToken());
        }
        catch (Exception ex) when (ex is IOException or CryptographicException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // The kept registration token, when it is this proxy's: a gateway's id changes with each run, so one kept from
    // an earlier run names another instance, and is renewed at start like a missing one.
    private string? KeptToken()
    {
        var path = Path.Combine(_directory, TokenFile);
        var token = File.Exists(path) ? File.ReadAllText(path).Trim() : "";
        return Contracts.Security.RegistrationToken.ReadUnverified(token) is { } claims && claims.Kind == _kind && claims.Name == _name && claims.Instance == _instance
            ? token
            : null;
    }

    private void TryForget(string file)
    {
        try
        {
            File.Delete(Path.Combine(_directory, file));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ProxyEngineLog.CertificateRequestFailed(_logger, 0, 0, $"could not remove {file} from {_directory}: {ex.Message}");
        }
    }

    private void TryKeep(string file, string content, bool secret = false)
    {
        try
        {
            DurableFile.Write(Path.Combine(_directory, file), Encoding.ASCII.GetBytes(content), secret ? UnixFileMode.UserRead | UnixFileMode.UserWrite : null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ProxyEngineLog.CertificateRequestFailed(_logger, 0, 0, $"could not keep {file} in {_directory}: {ex.Message}");
        }
    }

    private sealed record Credential(X509Certificate2 Certificate, SpiffeId Id, DateTimeOffset RenewAt, string? RegistrationToken)
    {
        /// <summary>Renewal at half of the remaining life (from when it was received), so a kept certificate renews early.</summary>
        public static Credential For(X509Certificate2 certificate, DateTimeOffset now, string? registrationToken)
        {
            if (!SpiffeId.TryFrom(certificate, out var id))
            {
                throw new IdentityException("the issued certificate carries no SPIFFE ID.");
            }

            var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
            return new Credential(certificate, id, now + ((notAfter - now) / 2), string.IsNullOrEmpty(registrationToken) ? null : registrationToken);
        }
    }
}

/// <summary>The proxy cannot get a mesh identity; the message says why and what to do.</summary>
public sealed class IdentityException(string message, Exception? inner = null) : Exception(message, inner);
