using System.Net;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.ControlPlane.Api;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Security;

/// <summary>
/// The admin API (config, stats, tap, proxies, CA, credentials) and the dashboard need the admin token when reached from
/// anywhere but this machine: <c>Authorization: Bearer &lt;token&gt;</c>, or Basic with the token as password (what a
/// browser prompts for). What applications read (discovery, the trust bundle) and certificate requests stay open to
/// them; changing the registry, reporting and watching are <see cref="RegistrationGuard"/>'s.
/// </summary>
internal sealed class RemoteAdminGuard(RequestDelegate next, AdminToken token, IOptions<ControlPlaneOptions> options)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!IsAdmin(context.Request) || (options.Value.OpenOnLoopback && IsLoopback(context.Connection.RemoteIpAddress)) || Accepts(context.Request))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var dashboard = context.Request.Path.StartsWithSegments("/dashboard", StringComparison.OrdinalIgnoreCase);
        context.Response.Headers.WWWAuthenticate = dashboard ? "Basic realm=\"aspiremesh\", charset=\"UTF-8\"" : "Bearer realm=\"aspiremesh-admin\"";
        await Problems.Problem(new MeshProblem("Unauthorized", StatusCodes.Status401Unauthorized,
            $"{(dashboard ? "the dashboard" : "the admin API")} needs the admin token from outside this machine: send 'Authorization: Bearer <token>'" +
            $"{(dashboard ? " or sign in with any user name and the token as password" : "")} ({AdminToken.EnvironmentVariable}, or the token printed when the control plane first started).")).ExecuteAsync(context).ConfigureAwait(false);
    }

    internal static bool IsLoopback(IPAddress? address) =>
        address is not null && (IPAddress.IsLoopback(address) || (address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(address.MapToIPv4())));

    internal static bool IsAdmin(HttpRequest request)
    {
        var path = request.Path;
        if (path.StartsWithSegments("/v1/ca/bundle.pem", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return path.StartsWithSegments("/dashboard", StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments("/v1/config", StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments("/v1/stats", StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments("/v1/tap", StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments("/v1/resources", StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments("/v1/bootstrap-credentials", StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments("/v1/registration-tokens", StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments("/v1/ca", StringComparison.OrdinalIgnoreCase)
            || (HttpMethods.IsGet(request.Method) && path.Equals("/v1/proxies", StringComparison.OrdinalIgnoreCase));
    }

    private bool Accepts(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)
            ? BasicPassword(header) is { } password && token.Accepts($"Bearer {password}")
            : token.Accepts(header);
    }

    /// <summary>The password of <c>Authorization: Basic</c> (where a browser or a URL's user info puts a token); null when malformed.</summary>
    internal static string? BasicPassword(string header)
    {
        try
        {
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim()));
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            return colon >= 0 ? decoded[(colon + 1)..] : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
