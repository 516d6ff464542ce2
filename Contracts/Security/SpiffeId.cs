using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace AspireMesh.Contracts.Security;

/// <summary>
/// A workload's SPIFFE ID, <c>spiffe://trust-domain/ns/namespace/sa/account</c>. A sidecar's account is its service's name;
/// a gateway's is <c>gateway.name</c> (service names are DNS labels, so they never contain a dot).
/// </summary>
public sealed record SpiffeId(string TrustDomain, string Namespace, string Account)
{
    /// <summary>The namespace workloads get unless the mesh names another.</summary>
    public const string DefaultNamespace = "default";

    /// <summary>The trust domain of a mesh that names none (Istio's default).</summary>
    public const string DefaultTrustDomain = "cluster.local";

    /// <summary>How a gateway's workload name begins: <c>gateway/name</c> (in <c>x-mesh-source</c> and authorization rules).</summary>
    public const string GatewayWorkloadPrefix = "gateway/";

    private const string GatewayPrefix = "gateway.";

    /// <summary>
    /// The namespace of the control plane's own identity. Workloads never get it (theirs is <see cref="DefaultNamespace"/>),
    /// so no proxy's certificate can pass for the control plane's.
    /// </summary>
    public const string ControlPlaneNamespace = "aspiremesh-system";

    /// <summary>The account of the control plane's own identity, in <see cref="ControlPlaneNamespace"/>.</summary>
    public const string ControlPlaneAccount = "controlplane";

    /// <summary>
    /// The identity the control plane presents when it calls a proxy's telemetry listener (<c>/stats</c>, <c>/tap</c>):
    /// <c>spiffe://trust-domain/ns/aspiremesh-system/sa/controlplane</c>.
    /// </summary>
    public static SpiffeId ControlPlane(string trustDomain) => new(trustDomain, ControlPlaneNamespace, ControlPlaneAccount);

    /// <summary>The identity of a sidecar of <paramref name="service"/> or of the gateway <paramref name="name"/>.</summary>
    public static SpiffeId For(string trustDomain, string kind, string name, string ns = DefaultNamespace) =>
        new(trustDomain, ns, kind == "gateway" ? GatewayPrefix + name : name);

    /// <summary>The mesh name of a proxy's workload: the service of a sidecar, <c>gateway/name</c> for a gateway.</summary>
    public static string WorkloadName(string kind, string name) => kind == "gateway" ? GatewayWorkloadPrefix + name : name;

    /// <summary>Whether a workload name (<see cref="Workload"/>, <c>x-mesh-source</c>) names a gateway.</summary>
    public static bool IsGatewayWorkload(string workload) => workload.StartsWith(GatewayWorkloadPrefix, StringComparison.Ordinal);

    /// <summary>The mesh name of the workload: the service, or <c>gateway/name</c> for a gateway (as in <c>x-mesh-source</c>).</summary>
    public string Workload => Account.StartsWith(GatewayPrefix, StringComparison.Ordinal) ? GatewayWorkloadPrefix + Account[GatewayPrefix.Length..] : Account;

    /// <inheritdoc/>
    public override string ToString() => $"spiffe://{TrustDomain}/ns/{Namespace}/sa/{Account}";

    /// <summary>Parses <c>spiffe://td/ns/x/sa/y</c>; anything else is not a mesh identity.</summary>
    public static bool TryParse(string? value, [NotNullWhen(true)] out SpiffeId? id)
    {
        id = null;
        if (value is null || !Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme != "spiffe" || uri.Host.Length == 0
            || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0 || !uri.IsDefaultPort)
        {
            return false;
        }

        var segments = uri.AbsolutePath.Split('/');
        if (segments is not ["", "ns", { Length: > 0 } ns, "sa", { Length: > 0 } account])
        {
            return false;
        }

        id = new SpiffeId(uri.Host, ns, account);
        return true;
    }

    /// <summary>The SPIFFE ID in a certificate's subject alternative names (exactly one URI SAN, as SPIFFE requires).</summary>
    public static bool TryFrom(X509Certificate2 certificate, [NotNullWhen(true)] out SpiffeId? id)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        id = null;
        var uris = UriNames(certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault()?.RawData);
        return uris.Count == 1 && TryParse(uris[0], out id);
    }

    /// <summary>The URI entries of a subjectAltName extension's value.</summary>
    public static IReadOnlyList<string> UriNames(byte[]? rawSubjectAltName)
    {
        var uris = new List<string>();
        if (rawSubjectAltName is null)
        {
            return uris;
        }

        try
        {
            var reader = new AsnReader(rawSubjectAltName, AsnEncodingRules.DER);
            var names = reader.ReadSequence();
            var uriTag = new Asn1Tag(TagClass.ContextSpecific, 6);
            while (names.HasData)
            {
                var tag = names.PeekTag();
                if (tag.HasSameClassAndValue(uriTag))
                {
                    uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, uriTag));
                }
                else
                {
                    names.ReadEncodedValue();
                }
            }
        }
        catch (AsnContentException)
        {
            uris.Clear();
        }

        return uris;
    }
}
