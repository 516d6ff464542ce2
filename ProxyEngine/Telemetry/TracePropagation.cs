using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>
/// Keeps W3C trace context flowing through a proxy whether or not a tracer records anything. Every request gets the
/// proxy's own span (ASP.NET Core's server activity, continuing the caller's trace or starting one). Without a tracer
/// that activity is created for propagation only: not recorded, so ASP.NET Core spends no allocations tagging it, and
/// the forwarded request carries the caller's trace context unchanged, or the proxy's new trace when the caller sent
/// none (<see cref="Write"/>, by <see cref="TraceContextClientFactory"/>'s clients). With a tracer (OpenTelemetry over
/// OTLP) a sampled span is recorded in full, as it would be without this listener, and HttpClient's client span of
/// each attempt is the forwarded request's parent.
/// </summary>
public static class TracePropagation
{
    private const string TraceParent = "traceparent";

    private static readonly Lazy<ActivityListener> Listener = new(() =>
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Microsoft.AspNetCore" or "System.Net.Http",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    });

    private static readonly DistributedContextPropagator.PropagatorSetterCallback Set =
        static (carrier, name, value) => ((HttpRequestMessage)carrier!).Headers.TryAddWithoutValidation(name, value);

    /// <summary>Starts listening, once per process.</summary>
    public static void Enable() => _ = Listener.Value;

    /// <summary>
    /// Whether a proxy records spans, and so HttpClient's client span of every forwarded attempt: when its telemetry is
    /// on and it exports over OTLP (<see cref="ServiceDefaultsExtensions.ExportsTelemetry"/>: an endpoint, and the SDK not
    /// disabled), unless its sampler records none (<c>OTEL_TRACES_SAMPLER=always_off</c>, metrics only).
    /// </summary>
    public static bool RecordsSpans(bool telemetry, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return telemetry && ServiceDefaultsExtensions.ExportsTelemetry(configuration)
            && !string.Equals(configuration["OTEL_TRACES_SAMPLER"]?.Trim(), "always_off", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Writes the trace context of a forwarded request that no client span is recorded for. When the current activity,
    /// recorded nowhere, continues the context the forwarder copied from the incoming request, that context passes
    /// unchanged: the caller's span stays the parent, with the caller's sampling decision, <c>tracestate</c> and
    /// baggage, as a proxy that does not trace should leave them (a parent id of a span nobody records would break
    /// the trace where the proxy stands). Otherwise (the proxy started the trace, or records its span) the current
    /// activity's context replaces the copied one, written by <paramref name="propagator"/>, which removes the copied
    /// headers first. With no current activity the request keeps what it carries.
    /// </summary>
    public static void Write(HttpRequestMessage request, DistributedContextPropagator propagator)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(propagator);
        if (Activity.Current is not { } activity || (!activity.Recorded && ContinuesCopiedContext(request, activity)))
        {
            return;
        }

        propagator.Inject(activity, request, Set);
    }

    /// <summary>Whether <paramref name="activity"/> continues the one <c>traceparent</c> the request carries.</summary>
    private static bool ContinuesCopiedContext(HttpRequestMessage request, Activity activity)
    {
        if (!activity.HasRemoteParent || !request.Headers.NonValidated.TryGetValues(TraceParent, out var values) || values.Count != 1)
        {
            return false;
        }

        // "00-" + 32 hex digits of trace id + "-" + 16 of parent id + "-" + flags (later versions may append fields).
        var value = values.ToString().AsSpan();
        return value.Length >= 55 && value[2] == '-' && value[35] == '-' && value[52] == '-'
            && value.Slice(3, 32).SequenceEqual(activity.TraceId.ToHexString())
            && value.Slice(36, 16).SequenceEqual(activity.ParentSpanId.ToHexString());
    }
}
