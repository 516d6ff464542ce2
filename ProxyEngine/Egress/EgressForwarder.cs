using System.Net;
using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace AspireMesh.ProxyEngine.Egress;

/// <summary>
/// Answers the app's plain HTTP requests that no mesh route matched: a host an egress policy allows is called
/// directly (over TLS that the proxy opens, with <c>tls: Originate</c>); a service name the mesh routes (or any name
/// without a dot, which is how mesh services are named) gets 404 <see cref="MeshErrors.NoRoute"/>; anything else is
/// outside the mesh and gets 403 <see cref="MeshErrors.EgressDenied"/>.
/// </summary>
internal sealed class EgressForwarder(EgressTable table, RoutedHosts routed, IHttpForwarder forwarder, ProxyEngineOptions options, ILogger<EgressForwarder> logger)
{
    private readonly ForwarderRequestConfig _requestConfig = new() { ActivityTimeout = options.UpstreamTimeout };

    public async Task HandleAsync(HttpContext context, Func<HttpContext, string> describeNoRoute)
    {
        var request = context.Request;
        var host = request.Host.Host;
        var port = request.Host.Port ?? 80;
        var (allowed, otherPort) = table.FindHttp(host, port);
        if (allowed is not null)
        {
            var scheme = allowed.OriginateTls ? "https" : "http";
            var destination = $"{scheme}://{(IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{host}]" : host)}:{allowed.Port}";
            context.Features.Set(new EgressRequestFeature(host.ToLowerInvariant(), $"egress/{allowed.Policy}"));
            ProxyEngineLog.EgressForwarding(logger, request.Method, host, request.Path.Value ?? "/", allowed.Policy, destination);
            await forwarder.SendAsync(context, destination, allowed.Client, _requestConfig, EgressTransformer.Instance).ConfigureAwait(false);
            return;
        }

        if (otherPort is null && (routed.Accepts(host) || (!host.Contains('.', StringComparison.Ordinal) && !IPAddress.TryParse(host, out _))))
        {
            await MeshErrorWriter.WriteAsync(context, StatusCodes.Status404NotFound, MeshErrors.NoRoute, describeNoRoute(context)).ConfigureAwait(false);
            return;
        }

        context.Features.Set(new EgressRequestFeature(host.ToLowerInvariant(), ""));
        var reason = otherPort is null
            ? $"'{host}' is outside the mesh and no egress policy allows '{options.Name}' to call it; add one to policies.egress (request {request.Method} {request.Host}{request.Path})."
            : $"egress policy '{otherPort.Policy}' allows '{host}' on port {otherPort.Port}{(otherPort.OriginateTls ? " (or 80, with TLS originated to " + otherPort.Port + ")" : "")}, not {port} (request {request.Method} {request.Host}{request.Path}).";
        ProxyEngineLog.EgressRefused(logger, request.Method, request.Host.Value ?? host, request.Path.Value ?? "/", reason);
        await MeshErrorWriter.WriteAsync(context, StatusCodes.Status403Forbidden, MeshErrors.EgressDenied, reason).ConfigureAwait(false);
    }
}

/// <summary>
/// The app's request as it wrote it, to the external host's own authority: no <c>X-Forwarded-*</c> (YARP's default
/// transformer would tell every external host the app's loopback address and the sidecar's scheme).
/// </summary>
internal sealed class EgressTransformer : HttpTransformer
{
    public static readonly EgressTransformer Instance = new();

    private EgressTransformer()
    {
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        // The Host of the address called (the policy's port, TLS originated or not), as before.
        proxyRequest.Headers.Host = null;
    }
}

/// <summary>Marks a request the proxy sent (or refused to send) outside the mesh, so that it is measured with the external host as destination.</summary>
/// <param name="Host">The external host.</param>
/// <param name="Route"><c>egress/policy</c> when a policy allowed it; empty when refused.</param>
internal sealed record EgressRequestFeature(string Host, string Route);
