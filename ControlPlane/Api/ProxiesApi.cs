using System.Net;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.Security;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Api;

/// <summary>Proxies report what they applied or refused; GET /v1/proxies shows every proxy's state.</summary>
internal static class ProxiesApi
{
    public static IEndpointRouteBuilder MapProxiesApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/proxies", (ProxyRegistry proxies, MeshStateStore state) =>
        {
            var current = state.Current;
            return Results.Json(new ProxyList(current.Version, current.ConfigVersion, proxies.List(current.Version)) { ControlPlaneVersion = MeshBuild.Version }, MeshJsonContext.Default.ProxyList);
        });

        endpoints.MapPost("/v1/proxies/{proxyId}/report", (string proxyId, ProxyReport report, HttpContext context, ProxyRegistry proxies, RegistrationGuard guard, ILogger<ProxyRegistry> logger) =>
        {
            if (guard.CheckReport(context, proxyId, report.Kind, report.Name) is { } refusal)
            {
                return refusal.AsProblem();
            }

            if (report.TelemetryAddress is { } telemetry && !IsTelemetryAddress(telemetry))
            {
                return Problems.Invalid("Invalid report", [new Contracts.Config.ConfigError("telemetryAddress",
                    $"'{telemetry}' is not the address of a telemetry listener: give https://host:port, without a path.")]);
            }

            var from = context.Connection.RemoteIpAddress;
            var admin = AcceptedAdminAddress(report.AdminAddress, from);
            if (report.AdminAddress is not null && admin is null && proxies.IgnoredFirstTime(proxyId, report.Kind, report.Name, report.AdminAddress))
            {
                ControlPlaneLog.ReportedAddressIgnored(logger, proxyId, report.AdminAddress, from?.ToString() ?? "?",
                    "an admin address is read only on loopback, from a proxy on this machine (give the proxy --telemetry-port)");
            }

            var telemetryAddress = AcceptedTelemetryAddress(report.TelemetryAddress, from);
            if (report.TelemetryAddress is not null && telemetryAddress is null && proxies.IgnoredFirstTime(proxyId, report.Kind, report.Name, report.TelemetryAddress))
            {
                ControlPlaneLog.ReportedAddressIgnored(logger, proxyId, report.TelemetryAddress, from?.ToString() ?? "?",
                    "a proxy on another machine is read at its own address: the host must be the address it reports from");
            }

            proxies.Report(proxyId, report with { AdminAddress = admin, TelemetryAddress = telemetryAddress });
            if (report is { RefusedVersion: { } refused, Refusal: { } reason })
            {
                ControlPlaneLog.SnapshotRefused(logger, proxyId, report.Kind, report.Name, refused, reason);
            }

            return Results.NoContent();
        });

        return endpoints;
    }

    /// <summary>
    /// The admin address of a report, when the control plane may read it: a loopback address, reported from loopback (a
    /// proxy on this machine). From anywhere else it is ignored: there it names the control plane's own loopback, not the
    /// proxy's, and a report must not make the control plane call its own admin API or anything else it can reach.
    /// </summary>
    internal static string? AcceptedAdminAddress(string? address, IPAddress? reportedFrom) =>
        address is not null && reportedFrom is not null && IPAddress.IsLoopback(reportedFrom)
        && Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback
        && uri.AbsolutePath == "/" && uri.UserInfo.Length == 0 && uri.Query.Length == 0 && uri.Fragment.Length == 0
            ? address
            : null;

    /// <summary>
    /// The telemetry address of a report, when the control plane may connect to it: any, from a proxy on this machine;
    /// from another machine only the address the report came from (a pod's IP), so that a report cannot make the control
    /// plane open connections to hosts and ports of the reporter's choosing.
    /// </summary>
    internal static string? AcceptedTelemetryAddress(string? address, IPAddress? reportedFrom)
    {
        if (address is null || reportedFrom is null || !Uri.TryCreate(address, UriKind.Absolute, out var uri))
        {
            return null;
        }

        if (IPAddress.IsLoopback(reportedFrom))
        {
            return address;
        }

        // IPv4 as itself (a dual-stack listener sees ::ffff:a.b.c.d), and without an IPv6 scope (a URL carries none).
        static IPAddress Plain(IPAddress a) => new((a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).GetAddressBytes());
        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var host) && Plain(host).Equals(Plain(reportedFrom)) ? address : null;
    }

    /// <summary>Whether <paramref name="address"/> is https://host:port with nothing else.</summary>
    private static bool IsTelemetryAddress(string address) =>
        Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps && uri.AbsolutePath == "/"
        && uri.UserInfo.Length == 0 && uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.HostNameType != UriHostNameType.Basic;
}
