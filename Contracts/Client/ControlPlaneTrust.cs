using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AspireMesh.Contracts.Client;

/// <summary>
/// What a client of the control plane (a proxy, the CLI) trusts the control plane's HTTPS certificate by: the roots it
/// was given (<see cref="EnvironmentVariable"/>: PEM text or a PEM file, as a published topology hands them out), the
/// mesh's trust bundle once a proxy holds one (so that it follows a root rotation), and the system's store (a control
/// plane behind a certificate of a public or company CA). Plain-HTTP addresses are unaffected.
/// </summary>
public sealed class ControlPlaneTrust
{
    /// <summary>The environment variable with the roots to trust the control plane's certificate by.</summary>
    public const string EnvironmentVariable = "ASPIREMESH_CONTROL_PLANE_CA";

    private readonly X509Certificate2Collection _configured;
    private X509Certificate2Collection _mesh = [];

    /// <summary>Trusts the roots of <paramref name="configured"/> (PEM text, or the path of a PEM file; null for none).</summary>
    /// <exception cref="InvalidDataException">It is neither readable PEM nor a readable file of PEM certificates.</exception>
    public ControlPlaneTrust(string? configured)
    {
        _configured = string.IsNullOrWhiteSpace(configured) ? [] : Read(configured);
    }

    /// <summary>The roots given in <see cref="EnvironmentVariable"/>, if any.</summary>
    /// <exception cref="InvalidDataException">The variable holds neither PEM certificates nor a file of them.</exception>
    public static ControlPlaneTrust FromEnvironment() => new(Environment.GetEnvironmentVariable(EnvironmentVariable));

    /// <summary>Whether <paramref name="controlPlane"/> is plain HTTP to another machine (what is sent there can be read on the way).</summary>
    public static bool InTheClear(Uri? controlPlane) =>
        controlPlane is { IsAbsoluteUri: true } && controlPlane.Scheme == Uri.UriSchemeHttp && !controlPlane.IsLoopback;

    /// <summary>Adds the mesh's current trust bundle (PEM, a root per block), replacing the one added before.</summary>
    public void UseMeshRoots(IEnumerable<string> bundle)
    {
        var roots = new X509Certificate2Collection();
        foreach (var pem in bundle)
        {
            try
            {
                roots.ImportFromPem(pem);
            }
            catch (CryptographicException)
            {
                // The proxy checks the bundle where it takes it; an unreadable one adds nothing here.
            }
        }

        Volatile.Write(ref _mesh, roots);
    }

    /// <summary>A client of the control plane at <paramref name="baseAddress"/> that checks its certificate as above.</summary>
    public HttpClient CreateClient(Uri baseAddress, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = Validate;
        return new HttpClient(new ReasonHandler(handler)) { BaseAddress = baseAddress, Timeout = timeout };
    }

    private static X509Certificate2Collection Read(string configured)
    {
        var text = configured.TrimStart().StartsWith("-----BEGIN", StringComparison.Ordinal) ? configured : ReadFile(configured);
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPem(text);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidDataException($"{EnvironmentVariable} holds no readable PEM certificate: {ex.Message}", ex);
        }

        return roots.Count > 0 ? roots : throw new InvalidDataException($"{EnvironmentVariable} holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
    }

    private static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new InvalidDataException($"{EnvironmentVariable} is neither PEM text nor a readable file: {ex.Message}", ex);
        }
    }

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        var host = (sender as SslStream)?.TargetHostName;
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            throw new ControlPlaneTrustException($"the control plane at {host} presented no certificate.");
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames().Concat(e.EnumerateIPAddresses().Select(a => a.ToString())));
            throw new ControlPlaneTrustException($"the control plane's certificate is not for '{host}': it names {string.Join(", ", names.DefaultIfEmpty("no host"))}. " +
                "Connect by one of those names, or give the control plane this one (--ControlPlane:ServerNames).");
        }

        // Workload certificates chain to the same roots and are server certificates too; one of them (a service named
        // like the control plane's host) must not pass for the control plane.
        if (AspireMesh.Contracts.Security.SpiffeId.TryFrom(leaf, out var workload))
        {
            throw new ControlPlaneTrustException($"the certificate presented at {host} is a mesh workload's ({workload}), not the control plane's.");
        }

        var roots = new X509Certificate2Collection(_configured);
        roots.AddRange(Volatile.Read(ref _mesh));
        using var own = new X509Chain();
        own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        own.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        own.ChainPolicy.CustomTrustStore.AddRange(roots);
        if (chain is not null)
        {
            own.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        if (roots.Count > 0 && own.Build(leaf))
        {
            return true;
        }

        var why = roots.Count == 0 ? "it is not issued by a CA of this system's store, and no mesh root was given"
            : $"it does not chain to a root this client was given or holds ({string.Join("; ", own.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct())})";
        throw new ControlPlaneTrustException($"the control plane's certificate ({leaf.Subject}, issued by {leaf.Issuer}) is not trusted: {why}. " +
            $"Give the mesh's root in {EnvironmentVariable} (PEM text or a file; the control plane serves it at GET /v1/ca/bundle.pem).");
    }

    /// <summary>Gives a connection refused for the control plane's certificate the reason, not .NET's "see inner exception".</summary>
    private sealed class ReasonHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (Reason(ex) is { } reason)
            {
                throw new HttpRequestException(ex.HttpRequestError, reason.Message, ex);
            }
        }

        private static ControlPlaneTrustException? Reason(Exception? ex)
        {
            for (; ex is not null; ex = ex.InnerException)
            {
                if (ex is ControlPlaneTrustException reason)
                {
                    return reason;
                }
            }

            return null;
        }
    }
}

/// <summary>The control plane's certificate is not trusted; the message says why and what to do.</summary>
public sealed class ControlPlaneTrustException(string message) : Exception(message);
