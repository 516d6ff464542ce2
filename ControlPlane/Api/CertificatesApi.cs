using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.Security;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// The certificate authority's API: proxies get and renew workload certificates; operators read the trust bundle, rotate
/// the root and mint bootstrap credentials.
/// </summary>
internal static class CertificatesApi
{
    public const string BootstrapScheme = "Bootstrap";

    public static IEndpointRouteBuilder MapCertificatesApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/v1/certificates", (HttpContext context, CertificateSigningRequest request, CertificateAuthority ca, BootstrapCredentials credentials, ILogger<CertificateAuthority> logger) =>
        {
            var remote = context.Connection.RemoteIpAddress?.ToString() ?? "?";
            IResult Refuse(int status, string reason)
            {
                ControlPlaneLog.CertificateRefused(logger, request.Kind, request.Name, request.Instance, remote, reason);
                if (status == StatusCodes.Status401Unauthorized)
                {
                    context.Response.Headers.WWWAuthenticate = $"{BootstrapScheme} realm=\"aspiremesh-ca\"";
                }

                return Problems.Problem(new MeshProblem(status == StatusCodes.Status400BadRequest ? "Bad certificate request" : "Certificate refused", status, reason));
            }

            if (request.Kind is not (ProxyKinds.Sidecar or ProxyKinds.Gateway) || string.IsNullOrEmpty(request.Name) || string.IsNullOrEmpty(request.Instance))
            {
                return Refuse(StatusCodes.Status400BadRequest, "kind (sidecar or gateway), name and instance are required.");
            }

            if (!MeshConfigValidator.IsDnsLabel(request.Name))
            {
                return Refuse(StatusCodes.Status400BadRequest, NotAName(request.Name));
            }

            var identity = SpiffeId.For(ca.TrustDomain, request.Kind, request.Name);
            string how;
            if (request.CurrentCertificate is { } currentPem)
            {
                if (!TryVerifyRenewal(ca, request, currentPem, identity, out var error))
                {
                    return Refuse(StatusCodes.Status403Forbidden, error);
                }

                how = "renewal";
            }
            else
            {
                var header = context.Request.Headers.Authorization.ToString();
                var credential = header.StartsWith(BootstrapScheme + " ", StringComparison.OrdinalIgnoreCase) ? header[(BootstrapScheme.Length + 1)..].Trim() : null;
                if (!credentials.TryRedeem(credential, request, out var error))
                {
                    return Refuse(credential is null ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden,
                        credential is null ? $"{error}: send 'Authorization: {BootstrapScheme} <credential>' ({BootstrapCredential.EnvironmentVariable} of the proxy)." : error);
                }

                how = "bootstrap credential";
            }

            try
            {
                var issued = ca.Issue(identity, request.Csr);
                ControlPlaneLog.CertificateIssued(logger, issued.SpiffeId, request.Instance, how, issued.NotAfter);
                // What the proxy registers and reports with, for as long as the certificate it comes with.
                context.Response.Headers[RegistrationToken.ResponseHeader] = RegistrationToken.Mint(credentials.Key, request.Kind, request.Name, request.Instance, issued.NotAfter);
                return Results.Json(issued, MeshJsonContext.Default.IssuedCertificate);
            }
            catch (CertificateRequestException ex)
            {
                return Refuse(StatusCodes.Status400BadRequest, ex.Message);
            }
        });

        endpoints.MapGet("/v1/ca", (CertificateAuthority ca) =>
            Results.Json(new CertificateAuthorityInfo(ca.TrustDomain, ca.Roots(), ca.Lifetime.TotalSeconds), MeshJsonContext.Default.CertificateAuthorityInfo));

        endpoints.MapGet("/v1/ca/bundle.pem", (CertificateAuthority ca) => Results.Text(string.Join('\n', ca.Bundle()), "application/x-pem-file"));

        endpoints.MapPost("/v1/ca/rotate", (CertificateAuthority ca) =>
        {
            ca.Rotate();
            return Results.Json(new CertificateAuthorityInfo(ca.TrustDomain, ca.Roots(), ca.Lifetime.TotalSeconds), MeshJsonContext.Default.CertificateAuthorityInfo);
        }).RequireAdminToken();

        endpoints.MapPost("/v1/bootstrap-credentials", async (HttpContext context, BootstrapCredentials credentials, TimeProvider time) =>
        {
            var request = await StrictBody.ReadAsync(context, MeshJsonContext.Default.BootstrapCredentialRequest).ConfigureAwait(false);
            if (request.Kind is not (ProxyKinds.Sidecar or ProxyKinds.Gateway) || string.IsNullOrEmpty(request.Name))
            {
                return Problems.Problem(new MeshProblem("Bad request", StatusCodes.Status400BadRequest, "kind (sidecar or gateway) and name are required."));
            }

            if (!MeshConfigValidator.IsDnsLabel(request.Name))
            {
                return Problems.Problem(new MeshProblem("Bad request", StatusCodes.Status400BadRequest, NotAName(request.Name)));
            }

            if (Lifetime(request.LifetimeSeconds, TimeSpan.FromDays(1)) is not { } lifetime)
            {
                return LifetimeOutOfRange;
            }

            return Results.Json(new BootstrapCredentialGrant(credentials.Mint(request.Kind, request.Name, request.Instance, lifetime), time.GetUtcNow() + lifetime),
                MeshJsonContext.Default.BootstrapCredentialGrant);
        }).RequireAdminToken();

        endpoints.MapPost("/v1/registration-tokens", async (HttpContext context, BootstrapCredentials credentials, TimeProvider time) =>
        {
            var request = await StrictBody.ReadAsync(context, MeshJsonContext.Default.RegistrationTokenRequest).ConfigureAwait(false);
            if (!MeshConfigValidator.IsDnsLabel(request.Service))
            {
                return Problems.Problem(new MeshProblem("Bad request", StatusCodes.Status400BadRequest,
                    $"service: '{request.Service}' is not a valid service name: use lower-case letters, digits or '-', starting with a letter."));
            }

            if (Lifetime(request.LifetimeSeconds, TimeSpan.FromDays(30)) is not { } lifetime)
            {
                return LifetimeOutOfRange;
            }

            var expires = time.GetUtcNow() + lifetime;
            return Results.Json(new RegistrationTokenGrant(RegistrationToken.Mint(credentials.Key, RegistrationToken.ServiceKind, request.Service, instance: null, expires), expires),
                MeshJsonContext.Default.RegistrationTokenGrant);
        }).RequireAdminToken();

        endpoints.MapPost("/v1/registration-tokens/revoke", async (HttpContext context, BootstrapCredentials credentials, RevokedCredentials revoked, ILogger<RevokedCredentials> logger) =>
        {
            var request = await StrictBody.ReadAsync(context, MeshJsonContext.Default.RegistrationTokenRevocation).ConfigureAwait(false);
            // An expired token is still revoked (and answered so): the operator's intent stands, whatever the clock.
            return Revoke(RegistrationToken.TryVerify(credentials.Key, request.Token, DateTimeOffset.MinValue, out var claims, out var error), claims, "token", error, revoked, logger);
        }).RequireAdminToken();

        endpoints.MapPost("/v1/bootstrap-credentials/revoke", async (HttpContext context, BootstrapCredentials credentials, RevokedCredentials revoked, ILogger<RevokedCredentials> logger) =>
        {
            var request = await StrictBody.ReadAsync(context, MeshJsonContext.Default.BootstrapCredentialRevocation).ConfigureAwait(false);
            return Revoke(BootstrapCredential.TryVerify(credentials.Key, request.Credential, DateTimeOffset.MinValue, out var claims, out var error), claims, "credential", error, revoked, logger);
        }).RequireAdminToken();

        return endpoints;
    }

    private static IResult Revoke(bool verified, CredentialClaims? claims, string member, string error, RevokedCredentials revoked, ILogger logger)
    {
        if (!verified)
        {
            return Problems.Problem(new MeshProblem("Bad request", StatusCodes.Status400BadRequest, $"{member}: {error}."));
        }

        var record = revoked.Revoke(claims!);
        ControlPlaneLog.CredentialRevoked(logger, member == "token" ? "Registration token" : "Bootstrap credential", record.Id, record.Kind, record.Name);
        return Results.Json(new CredentialRevoked(record.Id, record.Kind, record.Name, record.RevokedAt, record.Expires), MeshJsonContext.Default.CredentialRevoked);
    }

    private static readonly IResult LifetimeOutOfRange =
        Problems.Problem(new MeshProblem("Bad request", StatusCodes.Status400BadRequest, "lifetimeSeconds must be between 1 and 31622400 (a year)."));

    // A credential's lifetime as asked (or the default), when it is more than nothing and at most a year.
    // (Checked as a number first: a huge one would overflow a TimeSpan.)
    private static TimeSpan? Lifetime(double? seconds, TimeSpan fallback) => seconds switch
    {
        null => fallback,
        > 0 and <= 366 * 86400 => TimeSpan.FromSeconds(seconds.Value),
        _ => null,
    };

    /// <summary>
    /// A renewal proves possession: the current certificate is a valid one of this mesh for the same identity, and the
    /// proof is a signature over the new CSR made with its key.
    /// </summary>
    private static bool TryVerifyRenewal(CertificateAuthority ca, CertificateSigningRequest request, string currentPem, SpiffeId expected, out string error)
    {
        X509Certificate2 current;
        try
        {
            current = X509Certificate2.CreateFromPem(currentPem);
        }
        catch (CryptographicException ex)
        {
            error = $"currentCertificate is not a PEM certificate: {ex.Message}";
            return false;
        }

        using (current)
        {
            if (!ca.TryVerifyWorkload(current, out var identity, out error))
            {
                return false;
            }

            if (identity!.ToString() != expected.ToString())
            {
                error = $"the current certificate is for {identity}, not {expected}";
                return false;
            }

            byte[] proof;
            try
            {
                proof = Convert.FromBase64String(request.Proof ?? "");
            }
            catch (FormatException)
            {
                proof = [];
            }

            var data = Encoding.UTF8.GetBytes(request.Csr);
            using var ec = current.GetECDsaPublicKey();
            using var rsa = ec is null ? current.GetRSAPublicKey() : null;
            var valid = proof.Length > 0 && (ec?.VerifyData(data, proof, HashAlgorithmName.SHA256)
                ?? rsa?.VerifyData(data, proof, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1) ?? false);
            if (!valid)
            {
                error = "the proof is not a signature over the CSR made with the current certificate's key";
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Why <paramref name="name"/> cannot name a workload: it becomes a path segment of a SPIFFE ID, so a name that is not a
    /// DNS label (a '/', "..") could name another identity, the control plane's included.
    /// </summary>
    private static string NotAName(string name) =>
        $"name: '{name}' is not a service or gateway name (1-63 lower-case letters, digits or '-', starting with a letter).";
}
