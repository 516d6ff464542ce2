using System.Diagnostics;

namespace AspireMesh.ProxyEngine.Telemetry;

/// <summary>
/// Keeps W3C trace context flowing through a proxy whether or not a tracer records anything: every request gets the
/// proxy's own span (ASP.NET Core's server activity, continuing the caller's trace or starting one), and the request
/// it forwards carries it as parent (HttpClient's client activity). Without a tracer those activities are created for
/// propagation only: not recorded, so neither ASP.NET Core nor HttpClient spends allocations tagging them. A tracer
/// (OpenTelemetry over OTLP) that samples a span records it in full, as it would without this listener.
/// </summary>
public static class TracePropagation
{
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

    /// <summary>Starts listening, once per process.</summary>
    public static void Enable() => _ = Listener.Value;
}
