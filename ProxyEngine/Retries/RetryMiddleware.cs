using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Errors;
using AspireMesh.ProxyEngine.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace AspireMesh.ProxyEngine.Retries;

/// <summary>
/// Runs a request's attempts within its route's limits: the whole-request and per-attempt timeouts, and retries,
/// each on an endpoint not yet tried when there is one, after an exponential backoff with jitter, within the backend's
/// retry budget. A request that never reached an app (connection refused or, from a peer sidecar,
/// <see cref="MeshErrors.AppUnavailable"/> or <see cref="MeshErrors.NotConfigured"/>) is always worth retrying; a route's retry policy adds broken connections
/// (<c>reset</c>), timeouts and chosen statuses. Requests with a body are retried only when they are replayable: up
/// to 64 KiB, and for non-idempotent methods only when the policy allows it. Runs in YARP's proxy pipeline, before
/// load balancing.
/// </summary>
internal sealed class RetryMiddleware(RequestDelegate next, ProxyEngineOptions options, RouteTable routes, RetryBudgets budgets,
    MeshRandom random, TimeProvider time, Telemetry.RequestMetrics metrics, ILogger<RetryMiddleware> logger)
{
    private readonly string _direction = options.Kind == ProxyKinds.Gateway ? "ingress" : "outbound";
    private readonly string _source = SpiffeId.WorkloadName(options.Kind, options.Name);

    private const int MaxReplayableBody = 64 * 1024;
    // Without a route policy: what never reached an app, and broken connections of requests safe to send again.
    private static readonly IReadOnlyList<string> DefaultConditions = ["connect-failure", "reset"];

    public async Task InvokeAsync(HttpContext context)
    {
        var proxy = context.GetReverseProxyFeature();
        var policy = routes.Find(proxy.Route.Config.RouteId);
        var retry = policy?.Route.Retry;
        var clusterId = proxy.Cluster?.Config.ClusterId ?? "";
        var budget = budgets.For(clusterId, routes.Backend(clusterId)?.RetryBudget);
        budget.RecordRequest();

        var attempts = retry?.Attempts ?? options.MaxAttempts;
        var conditions = retry?.Conditions ?? DefaultConditions;
        var replayable = Replayable(context, retry?.AllowNonIdempotent ?? false);
        var safeToResend = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method)
            || HttpMethods.IsPut(context.Request.Method) || HttpMethods.IsDelete(context.Request.Method) || (retry?.AllowNonIdempotent ?? false);
        // Load balancing narrows AvailableDestinations to the chosen one, so keep the full list; it is copied only
        // when an attempt fails: most requests need no retry, so the copy is kept off their path.
        var available = proxy.AvailableDestinations;
        List<DestinationState>? remaining = null;
        var feature = new RetryFeature { Codes = retry?.Codes ?? [] };
        context.Features.Set(feature);

        var clientAborted = context.RequestAborted;
        using var whole = policy?.RequestTimeout is { } requestTimeout ? new CancellationTokenSource(requestTimeout, time) : null;
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                feature.Requested = false;
                feature.CanRetry = replayable && attempt < attempts && budget.CanRetry();
                if (remaining is not null)
                {
                    proxy.AvailableDestinations = remaining;
                }

                using var perTry = policy?.TryTimeout is { } tryTimeout ? new CancellationTokenSource(tryTimeout, time) : null;
                // Without timeouts the client's own token is the only one: no linked source to allocate.
                using var linked = whole is null && perTry is null ? null : CancellationTokenSource.CreateLinkedTokenSource(clientAborted, whole?.Token ?? default, perTry?.Token ?? default);
                context.RequestAborted = linked?.Token ?? clientAborted;
                await next(context).ConfigureAwait(false);
                context.RequestAborted = clientAborted;

                if (whole?.IsCancellationRequested == true && !clientAborted.IsCancellationRequested)
                {
                    await FailAsync(context, StatusCodes.Status504GatewayTimeout, MeshErrors.Timeout, $"the request did not complete within {policy!.Route.Timeouts!.Request}.").ConfigureAwait(false);
                    return;
                }

                var reason = Classify(context, feature, perTry, clientAborted, conditions, safeToResend);
                if (reason is null || context.Response.HasStarted)
                {
                    return;
                }

                if (!feature.CanRetry || !budget.TryRetry())
                {
                    await GiveUpAsync(context, feature, reason, replayable && attempt < attempts, perTry is not null ? policy!.Route.Timeouts!.BackendRequest : null).ConfigureAwait(false);
                    return;
                }

                remaining ??= [.. available];
                if (proxy.ProxiedDestination is { } failed && remaining.Count > 1)
                {
                    remaining.Remove(failed);
                }

                ProxyEngineLog.Retrying(logger, context.Request.Method, context.Request.Path, clusterId, proxy.ProxiedDestination?.DestinationId ?? "?", reason);
                metrics.RecordRetry(_direction, _source, clusterId, reason);
                context.Features.Set<IForwarderErrorFeature>(null);
                context.Response.Clear();
                if (context.Request.Body.CanSeek)
                {
                    context.Request.Body.Position = 0;
                }

                if (policy?.Backoff is { } backoff && backoff > TimeSpan.Zero)
                {
                    // Full jitter: a random wait up to base * 2^(attempt-1), so retries from many clients spread out.
                    var ceiling = backoff * Math.Pow(2, attempt - 1);
                    await Task.Delay(ceiling * random.NextDouble(), time, whole?.Token ?? clientAborted).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (whole?.IsCancellationRequested == true && !clientAborted.IsCancellationRequested && !context.Response.HasStarted)
        {
            context.RequestAborted = clientAborted;
            await FailAsync(context, StatusCodes.Status504GatewayTimeout, MeshErrors.Timeout, $"the request did not complete within {policy!.Route.Timeouts!.Request}.").ConfigureAwait(false);
        }
        finally
        {
            context.RequestAborted = clientAborted;
        }
    }

    /// <summary>Why the attempt should be retried, or null when its outcome is final.</summary>
    private static string? Classify(HttpContext context, RetryFeature feature, CancellationTokenSource? perTry, CancellationToken clientAborted,
        IReadOnlyList<string> conditions, bool safeToResend)
    {
        if (feature.Requested)
        {
            return feature.RequestedReason;
        }

        if (perTry?.IsCancellationRequested == true && !clientAborted.IsCancellationRequested)
        {
            return conditions.Contains("timeout") && safeToResend ? "timeout" : "timeout (final)";
        }

        if (context.Features.Get<IForwarderErrorFeature>() is not { Error: ForwarderError.Request } error)
        {
            return null;
        }

        if (error.Exception is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError })
        {
            return "connect-failure";
        }

        return conditions.Contains("reset") && safeToResend ? "reset" : null;
    }

    private static Task GiveUpAsync(HttpContext context, RetryFeature feature, string reason, bool budgetWasTheLimit, string? tryTimeout)
    {
        if (reason.StartsWith("timeout", StringComparison.Ordinal))
        {
            return FailAsync(context, StatusCodes.Status504GatewayTimeout, MeshErrors.Timeout, $"the upstream did not answer within {tryTimeout}.");
        }

        // The policy wanted another attempt but the budget refused it: say so. (A suppressed answer must be replaced too.)
        if (feature.Requested || (budgetWasTheLimit && reason is "connect-failure" or "reset"))
        {
            return FailAsync(context, StatusCodes.Status503ServiceUnavailable, MeshErrors.RetryBudgetExhausted,
                $"the attempt failed ({reason}) and the retry budget of this backend is spent; retries are capped so they cannot multiply an outage.");
        }

        // Otherwise the last attempt's own answer or error stands (the mesh error middleware describes transport errors).
        return Task.CompletedTask;
    }

    private static Task FailAsync(HttpContext context, int status, string reason, string detail)
    {
        context.Features.Set<IForwarderErrorFeature>(null);
        context.Response.Clear();
        return MeshErrorWriter.WriteAsync(context, status, reason, detail);
    }

    /// <summary>Whether the request can be sent again: no body, or a small body that is now buffered.</summary>
    private static bool Replayable(HttpContext context, bool allowNonIdempotent)
    {
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false })
        {
            return true;
        }

        var method = context.Request.Method;
        var idempotent = HttpMethods.IsPut(method) || HttpMethods.IsDelete(method) || HttpMethods.IsGet(method) || HttpMethods.IsOptions(method);
        if ((!idempotent && !allowNonIdempotent) || context.Request.ContentLength is not (> 0 and <= MaxReplayableBody))
        {
            return false;
        }

        context.Request.EnableBuffering(MaxReplayableBody, MaxReplayableBody);
        return true;
    }
}

/// <summary>Per-request retry state shared between <see cref="RetryMiddleware"/> and the response transform.</summary>
internal sealed class RetryFeature
{
    /// <summary>Statuses the route retries.</summary>
    public IReadOnlyList<int> Codes { get; init; } = [];

    /// <summary>Whether another attempt is allowed after the current one.</summary>
    public bool CanRetry { get; set; }

    /// <summary>Set by the response transform when the answer asks for a retry elsewhere.</summary>
    public bool Requested { get; set; }

    /// <summary>Why the transform asked for a retry.</summary>
    public string RequestedReason { get; set; } = "";
}
