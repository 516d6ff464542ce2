using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.LoadBalancing;
using AspireMesh.ProxyEngine.Retries;
using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>Request-pipeline entry points of the proxy engine.</summary>
public static class ProxyEngineApplicationExtensions
{
    /// <summary>The key <c>UseAuthorization</c> sets in the application's properties (ASP.NET Core keeps it internal).</summary>
    private const string AuthorizationMiddlewareSetKey = "__AuthorizationMiddlewareSet";

    /// <summary>
    /// Counts this listener's connections as the proxy's downstream ones and measures every request (put it first, so
    /// that mesh errors and redirects are counted too); measures no request when <see cref="MetricsOptions.Enabled"/>
    /// is false.
    /// </summary>
    public static IApplicationBuilder UseMeshMetrics(this IApplicationBuilder app, MetricsOptions options)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(options);
        app.ApplicationServices.GetRequiredService<RequestMetrics>().CountConnectionsOf(app.ApplicationServices);
        return options.Enabled ? app.UseMiddleware<Telemetry.RequestMetricsMiddleware>(options) : app;
    }

    /// <summary>
    /// Routes' CORS filters (<see cref="Routing.CorsMiddleware"/>): before anything that may refuse a request on its
    /// route (authentication), as a browser's preflight carries no credentials.
    /// </summary>
    public static IApplicationBuilder UseMeshCors(this IApplicationBuilder app) => app.UseMiddleware<Routing.CorsMiddleware>();

    /// <summary>Turns failures the proxy produces into mesh errors (status, <see cref="MeshHeaders.Error"/>, body).</summary>
    public static IApplicationBuilder UseMeshErrors(this IApplicationBuilder app, MeshErrorOptions? options = null) =>
        app.UseMiddleware<MeshErrorMiddleware>(options ?? new MeshErrorOptions());

    /// <summary>
    /// Enforces the authorization policies of the service this listener fronts (a sidecar's inbound side): put it
    /// after <see cref="UseMeshMetrics"/> and <see cref="UseMeshErrors"/>, before anything that reaches the app.
    /// </summary>
    public static IApplicationBuilder UseMeshAuthorization(this IApplicationBuilder app, InboundPolicies policies, Security.AuthorizationOptions options) =>
        app.UseMiddleware<Security.AuthorizationMiddleware>(policies, options);

    /// <summary>How long a request that reaches a proxy before its first snapshot waits for it, by default.</summary>
    public static readonly TimeSpan FirstSnapshotWait = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Holds the requests that reach <paramref name="listener"/> before the proxy's first snapshot (its routes and
    /// policies, <see cref="ProxyStatus.FirstSnapshot"/>) until it is applied, each for at most <paramref name="wait"/>
    /// (<see cref="FirstSnapshotWait"/>), then answers 503 <see cref="MeshErrors.NotConfigured"/>: no request is routed
    /// or let in without the policies the control plane has for it. Once applied it costs a completed-task check. Put
    /// it after <see cref="UseMeshMetrics"/> and <see cref="UseMeshErrors"/>, before anything that reads the snapshot.
    /// </summary>
    public static IApplicationBuilder UseFirstSnapshotWait(this IApplicationBuilder app, ProxyStatus status, string listener, TimeSpan? wait = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(status);
        var limit = wait ?? FirstSnapshotWait;
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("AspireMesh.ProxyEngine.Configuration");
        var held = 0;
        return app.UseGate(context => status.FirstSnapshot.IsCompleted ? ValueTask.FromResult(true) : HoldAsync(context));

        async ValueTask<bool> HoldAsync(HttpContext context)
        {
            if (Interlocked.Exchange(ref held, 1) == 0)
            {
                ProxyEngineLog.HoldingUntilFirstSnapshot(logger, listener, limit.TotalSeconds);
            }

            try
            {
                await status.FirstSnapshot.WaitAsync(limit, context.RequestAborted).ConfigureAwait(false);
                return true;
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client gave up while it waited: measured as such (with why it waited), not as an answer.
                context.Response.StatusCode = StatusCodes.Status499ClientClosedRequest;
                context.Response.Headers[MeshHeaders.Error] = MeshErrors.NotConfigured;
                return false;
            }
            catch (TimeoutException)
            {
                ProxyEngineLog.NotConfigured(logger, context.Request.Method, context.Request.Path.Value ?? "/", listener, limit.TotalSeconds);
                await MeshErrorWriter.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, MeshErrors.NotConfigured,
                    $"this proxy has had no configuration from the control plane yet (waited {limit.TotalSeconds:0.#} s), so no route or policy applies; the request went no further.").ConfigureAwait(false);
                return false;
            }
        }
    }

    /// <summary>
    /// Runs the rest of the pipeline when <paramref name="gate"/> lets the request through (a gate that refuses has
    /// written the answer). A gate that decides without waiting, as they almost always do, costs no async step. What a
    /// gate throws, at once or later, fails the request as an exception of the middleware would.
    /// </summary>
    public static IApplicationBuilder UseGate(this IApplicationBuilder app, Func<HttpContext, ValueTask<bool>> gate)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(gate);
        return app.Use((context, next) =>
        {
            var admitted = gate(context);
            if (!admitted.IsCompletedSuccessfully)
            {
                return AfterGateAsync(admitted, context, next);
            }

            return admitted.Result ? next(context) : Task.CompletedTask;
        });
    }

    private static async Task AfterGateAsync(ValueTask<bool> admitted, HttpContext context, RequestDelegate next)
    {
        if (await admitted.ConfigureAwait(false))
        {
            await next(context).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Maps the snapshot-driven routes (with retries before load balancing) and a fallback that answers 404
    /// <see cref="MeshErrors.NoRoute"/> for requests no route matched.
    /// </summary>
    /// <remarks>
    /// The application then runs without ASP.NET Core's authorization middleware (the mesh authorizes in its own): an
    /// endpoint of the same application that required ASP.NET Core authorization would fail its requests.
    /// </remarks>
    public static WebApplication MapMeshRoutes(this WebApplication app, Func<HttpContext, string> describeNoRoute) => MapMeshRoutes(app, describeNoRoute, egress: false);

    /// <summary>
    /// As <see cref="MapMeshRoutes(WebApplication, Func{HttpContext, string})"/>; with <paramref name="egress"/> (a
    /// sidecar's outbound side), requests for hosts outside the mesh are sent out when an egress policy allows them and
    /// refused with 403 <see cref="MeshErrors.EgressDenied"/> otherwise.
    /// </summary>
    public static WebApplication MapMeshRoutes(this WebApplication app, Func<HttpContext, string> describeNoRoute, bool egress)
    {
        ArgumentNullException.ThrowIfNull(app);
        // YARP registers ASP.NET Core's authorization services (a YARP route may name an authorization policy), and a
        // web application that has them runs the authorization middleware on every request: an async step and a new
        // HttpContext.Items dictionary per request, for routes that never carry authorization metadata (the mesh
        // authorizes in its own middleware, before YARP). This is the mark UseAuthorization leaves for the builder.
        // Were a route ever to carry such metadata, ASP.NET Core's endpoint middleware would refuse the request
        // rather than skip the check.
        ((IApplicationBuilder)app).Properties[AuthorizationMiddlewareSetKey] = true;
        app.MapReverseProxy(pipeline =>
        {
            pipeline.UseMiddleware<RoutePolicyMiddleware>();
            pipeline.UseMiddleware<CircuitBreakerMiddleware>();
            pipeline.UseMiddleware<RetryMiddleware>();
            pipeline.UseLoadBalancing();
            pipeline.UseMiddleware<LatencyObserverMiddleware>();
            pipeline.UsePassiveHealthChecks();
        });
        // The default fallback pattern skips file-like paths (/index.html); every unmatched request gets the mesh error.
        if (egress)
        {
            var forwarder = app.Services.GetRequiredService<Egress.EgressForwarder>();
            app.MapFallback("/{**mesh-path}", context => forwarder.HandleAsync(context, describeNoRoute));
        }
        else
        {
            app.MapFallback("/{**mesh-path}", context => MeshErrorWriter.WriteAsync(context, StatusCodes.Status404NotFound, MeshErrors.NoRoute, describeNoRoute(context)));
        }
        return app;
    }
}
