using System.Diagnostics;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>
/// Keeps W3C trace context flowing through a proxy whether or not a tracer records anything: every request gets the
/// proxy's own span (ASP.NET Core's server activity, continuing the caller's trace or starting one), and the request
/// it forwards carries it as parent. Without a tracer that activity is created for propagation only: not recorded,
/// so ASP.NET Core spends no allocations tagging it, and the forwarded request's trace context is written from it
/// (<see cref="Write"/>, by <see cref="TraceContextClientFactory"/>'s clients) instead of from a client activity of
/// HttpClient's own, which nobody would record. A tracer (OpenTelemetry over OTLP) that samples a span records it in
/// full, as it would without this listener, and HttpClient's client span of each attempt with it.
/// </summary>
public static class TracePropagation
{
    private const string TraceParent = "traceparent";

    // "00-" + 32 hex digits of trace id + "-" + 16 of parent id + "-" + 2 of flags.
    private const int TraceParentLength = 55;

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

    private static readonly DistributedContextPropagator.PropagatorSetterCallback SetSampled = static (carrier, name, value) =>
        Set(carrier, name, name == TraceParent && value is { Length: TraceParentLength } && value.EndsWith("-00", StringComparison.Ordinal)
            ? string.Concat(value.AsSpan(0, TraceParentLength - 2), "01")
            : value);

    private static (DistributedContextPropagator Propagator, string[] Fields)? _fields;

    /// <summary>Starts listening, once per process.</summary>
    public static void Enable() => _ = Listener.Value;

    /// <summary>
    /// Writes the current activity's trace context (<c>traceparent</c>, <c>tracestate</c>, baggage: what the process's
    /// <see cref="DistributedContextPropagator"/> writes) into <paramref name="request"/>, in place of the context the
    /// forwarder copied from the incoming request. With no current activity the request keeps what it carries.
    /// </summary>
    /// <remarks>
    /// The caller's sampling decision is kept: the proxy's span is created for propagation only, so it is never marked
    /// sampled itself, but when the caller's <c>traceparent</c> was, the one written says so too (W3C Trace Context: a
    /// participant that makes no sampling decision passes the caller's on). Otherwise an application behind the proxy
    /// that samples by its parent, as OpenTelemetry does by default, would drop its part of every trace.
    /// </remarks>
    public static void Write(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Activity.Current is not { } activity)
        {
            return;
        }

        var keepSampled = !activity.Recorded && CallerSampled(request, activity);
        var propagator = DistributedContextPropagator.Current;
        foreach (var field in FieldsOf(propagator))
        {
            request.Headers.Remove(field);
        }

        propagator.Inject(activity, request, keepSampled ? SetSampled : Set);
    }

    /// <summary>
    /// Whether the <c>traceparent</c> copied from the incoming request, which <paramref name="activity"/> continues,
    /// has the sampled flag.
    /// </summary>
    private static bool CallerSampled(HttpRequestMessage request, Activity activity)
    {
        if (!activity.HasRemoteParent || !request.Headers.NonValidated.TryGetValues(TraceParent, out var values) || values.Count != 1)
        {
            return false;
        }

        var value = values.ToString();
        return value.Length >= TraceParentLength && value[2] == '-' && value[35] == '-' && value[52] == '-'
            && (HexValue(value[54]) & 1) == 1
            && value.AsSpan(3, 32).SequenceEqual(activity.TraceId.ToHexString());
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        _ => 0,
    };

    // The header names a propagator writes, as an array: enumerating its Fields collection per request would allocate.
    private static string[] FieldsOf(DistributedContextPropagator propagator)
    {
        var cached = _fields;
        if (cached is { } known && ReferenceEquals(known.Propagator, propagator))
        {
            return known.Fields;
        }

        var fields = propagator.Fields.ToArray();
        _fields = (propagator, fields);
        return fields;
    }
}
