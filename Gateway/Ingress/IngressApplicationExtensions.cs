using Microsoft.AspNetCore.Builder;

namespace AspireMesh.Gateway.Ingress;

/// <summary>The gateway's protections for requests from outside the mesh.</summary>
internal static class IngressApplicationExtensions
{
    /// <summary>
    /// Redirects plain HTTP to HTTPS when asked, refuses requests over the limits or ambiguous to a backend (none of
    /// which needs the snapshot), runs <paramref name="beforeSnapshotUse"/> (the wait for the first snapshot), removes
    /// identity headers clients must not set (the snapshot names some), then routes. Put it after the mesh's metrics
    /// and errors, so every refusal is a counted mesh error, and before the routes.
    /// </summary>
    public static WebApplication UseIngressProtection(this WebApplication app, IngressOptions options, Action<WebApplication>? beforeSnapshotUse = null)
    {
        if (options.RedirectToHttpsPort is { } httpsPort)
        {
            app.UseMiddleware<HttpsRedirectMiddleware>(httpsPort);
        }

        app.UseMiddleware<RequestLimitsMiddleware>(options);
        app.UseMiddleware<RequestHygieneMiddleware>(options);
        beforeSnapshotUse?.Invoke(app);
        app.UseMiddleware<IdentityHeadersMiddleware>(options);
        // Routing after the checks: a route never matches on a header the client was not allowed to send.
        app.UseRouting();
        return app;
    }
}
