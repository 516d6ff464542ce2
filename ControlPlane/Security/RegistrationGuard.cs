using AspireMesh.Contracts;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.Api;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.Registry;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Security;

/// <summary>
/// Who may change the registry and report as a proxy. From this machine (while <see cref="ControlPlaneOptions.OpenOnLoopback"/>)
/// anyone; from anywhere else only the holder of a registration token for that service (and instance, for a proxy's
/// token) or of the admin token, so that no one who merely reaches the control plane can add an instance of a service
/// and be sent its traffic, nor take another's instance out. Like Consul's ACL tokens with a service identity, the token
/// is read from <c>Authorization: Bearer</c>, <c>X-Consul-Token</c>, <c>?token=</c>, or as the password of Basic
/// authentication (a Eureka client's <c>http://user:token@host/eureka</c>).
/// </summary>
internal sealed class RegistrationGuard(BootstrapCredentials credentials, RevokedCredentials revoked, AdminToken admin, InstanceRegistry registry, ProxyRegistry proxies,
    IOptions<ControlPlaneOptions> options, TimeProvider time, ILogger<RegistrationGuard> logger)
{
    private const string Realm = "Bearer realm=\"aspiremesh-registry\"";

    private const string ChangeNeedsToken = "changing the registry from outside the control plane's machine needs a registration token: a proxy gets its own with its certificate; " +
        "for an application's instances mint one with POST /v1/registration-tokens and send it as 'Authorization: Bearer <token>' " +
        "(a Eureka client: as the password in the service URL, http://app:<token>@host/eureka; a Consul client: its ACL token)";

    private const string WatchNeedsToken = "watching from outside the control plane's machine needs the proxy's registration token, which it gets with its certificate " +
        "('Authorization: Bearer <token>')";

    /// <summary>
    /// Whether the caller may register, renew, change or remove the instance <paramref name="instanceId"/> as an instance
    /// of <paramref name="service"/> (null when the request does not say; the instance's current service is checked too).
    /// Null when it may; otherwise the refusal, logged.
    /// </summary>
    public RegistrationRefusal? CheckInstance(HttpContext context, string instanceId, string? service)
    {
        if (!Authenticate(context, ChangeNeedsToken, out var claims, out var refusal))
        {
            return refusal;
        }

        if (claims is null)
        {
            return null;
        }

        string? why = null;
        var current = registry.Find(instanceId)?.Service;
        if (claims.Kind is not (ProxyKinds.Sidecar or RegistrationToken.ServiceKind))
        {
            why = $"the registration token is {claims.Kind} '{claims.Name}''s, which has no instances to register";
        }
        else if (current is not null && current != claims.Name)
        {
            why = $"instance '{instanceId}' is an instance of '{current}', and the registration token is for service '{claims.Name}'";
        }
        else if (service is not null && service != claims.Name)
        {
            why = $"the registration token is for service '{claims.Name}', not '{service}'";
        }
        else if (claims.Instance is not null && claims.Instance != instanceId)
        {
            why = $"the registration token is for instance '{claims.Instance}', not '{instanceId}'";
        }

        return why is null ? null : Refuse(context, StatusCodes.Status403Forbidden, why);
    }

    /// <summary>
    /// Whether the caller may report as proxy <paramref name="proxyId"/> of <paramref name="kind"/> <paramref name="name"/>:
    /// with that proxy's own token, and not under the id of another workload's proxy that is still watching.
    /// </summary>
    public RegistrationRefusal? CheckReport(HttpContext context, string proxyId, string kind, string name) => CheckProxy(context, proxyId, kind, name, report: true);

    /// <summary>
    /// Whether the caller may watch as proxy <paramref name="proxyId"/> of <paramref name="kind"/> <paramref name="name"/>:
    /// a snapshot carries the workload's routes, policies and the addresses of the instances it may call, so from
    /// elsewhere it goes to that proxy's own token only (as Istio's xDS answers an authenticated workload).
    /// </summary>
    public RegistrationRefusal? CheckWatch(HttpContext context, string proxyId, string kind, string name) => CheckProxy(context, proxyId, kind, name, report: false);

    private RegistrationRefusal? CheckProxy(HttpContext context, string proxyId, string kind, string name, bool report)
    {
        if (!Authenticate(context, report ? ChangeNeedsToken : WatchNeedsToken, out var claims, out var refusal))
        {
            return refusal;
        }

        if (claims is null)
        {
            return null;
        }

        string? why = null;
        if (claims.Kind is not (ProxyKinds.Sidecar or ProxyKinds.Gateway) || claims.Kind != kind || claims.Name != name || claims.Instance != proxyId)
        {
            why = $"the registration token is {claims.Kind} '{claims.Name}''s{(claims.Instance is null ? "" : $" (instance '{claims.Instance}')")}, not {kind} '{name}''s (proxy '{proxyId}')";
        }
        else if (report && proxies.LiveReporter(proxyId) is { } live && (live.Kind != kind || live.Name != name))
        {
            why = $"proxy '{proxyId}' is {live.Kind} '{live.Name}''s, which is still watching";
        }

        return why is null ? null : Refuse(context, StatusCodes.Status403Forbidden, why);
    }

    // True with claims null: open, or the admin token. True with claims: a valid registration token, still to be scoped.
    private bool Authenticate(HttpContext context, string missing, out CredentialClaims? claims, out RegistrationRefusal? refusal)
    {
        claims = null;
        refusal = null;
        if (options.Value.OpenRegistration || (options.Value.OpenOnLoopback && RemoteAdminGuard.IsLoopback(context.Connection.RemoteIpAddress)))
        {
            return true;
        }

        var token = TokenOf(context.Request);
        if (token is null)
        {
            refusal = Refuse(context, StatusCodes.Status401Unauthorized, missing);
            return false;
        }

        if (admin.Accepts($"Bearer {token}"))
        {
            return true;
        }

        if (!RegistrationToken.TryVerify(credentials.Key, token, time.GetUtcNow(), out claims, out var error))
        {
            refusal = Refuse(context, StatusCodes.Status401Unauthorized, error);
            return false;
        }

        if (revoked.RevokedAt(claims!.Id) is { } at)
        {
            refusal = Refuse(context, StatusCodes.Status401Unauthorized, $"the registration token {claims.Id} was revoked at {at:u}");
            claims = null;
            return false;
        }

        return true;
    }

    private static string? TokenOf(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header[7..].Trim();
        }

        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return RemoteAdminGuard.BasicPassword(header);
        }

        var consul = request.Headers["X-Consul-Token"].ToString();
        if (consul.Length > 0)
        {
            return consul;
        }

        var query = request.Query["token"].ToString();
        return query.Length > 0 ? query : null;
    }

    private RegistrationRefusal Refuse(HttpContext context, int status, string reason)
    {
        ControlPlaneLog.RegistrationRefused(logger, context.Request.Method, context.Request.Path.ToString(), context.Connection.RemoteIpAddress?.ToString() ?? "?", reason);
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = Realm;
        }

        return new RegistrationRefusal(status, reason);
    }
}

/// <summary>Why a change of the registry (or a report) was refused: 401 without a valid token, 403 with one for something else.</summary>
internal sealed record RegistrationRefusal(int Status, string Reason)
{
    /// <summary>As the mesh's own API answers: a problem document.</summary>
    public IResult AsProblem() =>
        Problems.Problem(new MeshProblem(Status == StatusCodes.Status401Unauthorized ? "Unauthorized" : "Forbidden", Status, Reason + "."));

    /// <summary>As Eureka and Consul answer: plain text.</summary>
    public IResult AsText() => Results.Text(Reason + ".", "text/plain; charset=utf-8", statusCode: Status);
}
