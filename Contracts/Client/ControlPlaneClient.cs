using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Registry;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;

namespace AspireMesh.Contracts.Client;

/// <summary>HTTP/JSON client of the control plane's registry and watch API, used by sidecars and gateways.</summary>
/// <param name="http">Its base address is the control plane's.</param>
/// <param name="credential">
/// The proxy's registration token (<see cref="RegistrationToken"/>), sent with what changes the registry and with
/// reports and watches, and told when the control plane refuses it; null for none.
/// </param>
/// <param name="trust">What <paramref name="http"/> trusts the control plane's certificate by (a proxy adds its trust bundle to it); null when not known.</param>
public sealed class ControlPlaneClient(HttpClient http, IRegistrationCredential? credential = null, ControlPlaneTrust? trust = null)
{
    /// <summary>The control plane's base address.</summary>
    public Uri? Address => http.BaseAddress;

    /// <summary>What this client trusts the control plane's certificate by, when it was made by <see cref="Create"/>.</summary>
    public ControlPlaneTrust? Trust => trust;

    /// <summary>A client of the control plane at <paramref name="controlPlane"/> that trusts its certificate by <paramref name="trust"/>.</summary>
    public static ControlPlaneClient Create(Uri controlPlane, TimeSpan timeout, ControlPlaneTrust trust, IRegistrationCredential? credential = null)
    {
        ArgumentNullException.ThrowIfNull(trust);
        return new ControlPlaneClient(trust.CreateClient(controlPlane, timeout), credential, trust);
    }

    /// <summary>Registers (or re-registers) an instance and returns its lease.</summary>
    public async Task<LeaseGrant> RegisterAsync(string instanceId, InstanceRegistration registration, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Put, $"v1/instances/{Uri.EscapeDataString(instanceId)}",
            JsonContent.Create(registration, MeshJsonContext.Default.InstanceRegistration), cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.LeaseGrant, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The control plane answered the registration with an empty body.");
    }

    /// <summary>Renews a lease. Returns false when the control plane no longer knows the instance (it must re-register).</summary>
    public async Task<bool> HeartbeatAsync(string instanceId, Heartbeat heartbeat, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, $"v1/instances/{Uri.EscapeDataString(instanceId)}/heartbeat",
            JsonContent.Create(heartbeat, MeshJsonContext.Default.Heartbeat), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Removes an instance from the registry (graceful shutdown).</summary>
    public async Task DeregisterAsync(string instanceId, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Delete, $"v1/instances/{Uri.EscapeDataString(instanceId)}", null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Long-polls for a snapshot newer than <paramref name="knownVersion"/>. Returns null when the control plane
    /// had nothing newer before its wait ran out; the caller simply asks again.
    /// </summary>
    public async Task<WatchedSnapshot?> WatchAsync(string kind, string name, string proxyId, long knownVersion, CancellationToken cancellationToken)
    {
        var uri = $"v1/watch/{Uri.EscapeDataString(kind)}/{Uri.EscapeDataString(name)}?proxy={Uri.EscapeDataString(proxyId)}&version={knownVersion}";
        using var response = await SendAsync(HttpMethod.Get, uri, null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotModified)
        {
            return null;
        }

        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        var json = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // A control plane of this build: every member known, one pass.
            return new WatchedSnapshot(JsonSerializer.Deserialize(json, MeshJsonContext.Default.ProxySnapshot) ?? throw EmptySnapshot(), []);
        }
        catch (JsonException)
        {
            // A newer one (or a malformed answer, which the tolerant read refuses in turn): read what this build knows,
            // and find what it skipped.
            var snapshot = JsonSerializer.Deserialize(json, MeshJsonContext.Tolerant.ProxySnapshot) ?? throw EmptySnapshot();
            return new WatchedSnapshot(snapshot, UnknownMembers.Find(json, snapshot, MeshJsonContext.Default.ProxySnapshot));
        }

        static JsonException EmptySnapshot() => new("The control plane answered the watch with an empty snapshot (null).");
    }

    /// <summary>Tells the control plane which snapshot version the proxy serves, or why it refused one.</summary>
    public async Task ReportAsync(string proxyId, ProxyReport report, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, $"v1/proxies/{Uri.EscapeDataString(proxyId)}/report",
            JsonContent.Create(report, MeshJsonContext.Default.ProxyReport), cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Asks the mesh CA for a workload certificate: with a bootstrap credential the first time, with the current
    /// certificate and a proof (in <paramref name="request"/>) to renew.
    /// </summary>
    public async Task<IssuedCertificate> RequestCertificateAsync(CertificateSigningRequest request, string? bootstrapCredential, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/certificates")
        {
            Content = JsonContent.Create(request, MeshJsonContext.Default.CertificateSigningRequest),
        };
        if (bootstrapCredential is not null)
        {
            message.Headers.TryAddWithoutValidation("Authorization", $"Bootstrap {bootstrapCredential}");
        }

        using var response = await http.SendAsync(message, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        var issued = await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.IssuedCertificate, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The control plane answered the certificate request with an empty body.");
        return response.Headers.TryGetValues(RegistrationToken.ResponseHeader, out var token) ? issued with { RegistrationToken = token.FirstOrDefault() } : issued;
    }

    /// <summary>The mesh's trusted roots, PEM.</summary>
    public async Task<string> GetTrustBundleAsync(CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync("v1/ca/bundle.pem", cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists the registry.</summary>
    public async Task<ServiceList> GetServicesAsync(CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync("v1/services", cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync(MeshJsonContext.Tolerant.ServiceList, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The control plane answered /v1/services with an empty body.");
    }

    // What changes the registry, reports or watches carries the proxy's registration token, when it has one.
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string uri, HttpContent? content, CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(method, uri) { Content = content };
        var token = credential?.RegistrationToken;
        if (token is not null)
        {
            message.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        var response = await http.SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (token is not null && response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            credential!.RegistrationTokenRefused(response.StatusCode);
        }

        return response;
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        throw new ControlPlaneException(response.StatusCode,
            $"The control plane answered {(int)response.StatusCode} {response.ReasonPhrase} to {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {body}");
    }
}

/// <summary>The control plane refused a request; <see cref="StatusCode"/> says how.</summary>
public sealed class ControlPlaneException(HttpStatusCode statusCode, string message) : Exception(message)
{
    /// <summary>The HTTP status the control plane answered.</summary>
    public HttpStatusCode StatusCode { get; } = statusCode;
}

/// <summary>A snapshot as a proxy received it.</summary>
/// <param name="Snapshot">What this build of the proxy read of it.</param>
/// <param name="IgnoredFields">Fields it does not know and skipped (paths): the control plane is newer than the proxy.</param>
public sealed record WatchedSnapshot(ProxySnapshot Snapshot, IReadOnlyList<string> IgnoredFields);

/// <summary>What a proxy registers and reports with: its registration token, renewed when the control plane refuses it.</summary>
public interface IRegistrationCredential
{
    /// <summary>The current token, or null while there is none.</summary>
    string? RegistrationToken { get; }

    /// <summary>
    /// The control plane answered a request that carried <see cref="RegistrationToken"/> with <paramref name="status"/>:
    /// 401 (not valid: signed with a key since rotated) or 403 (for another instance: kept from a run under another id).
    /// Get a new one.
    /// </summary>
    void RegistrationTokenRefused(HttpStatusCode status);
}
