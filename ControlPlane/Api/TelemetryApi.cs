using System.Text.Json;
using System.Threading.Channels;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Telemetry;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.State;
using AspireMesh.ControlPlane.Telemetry;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// GET /v1/stats (golden metrics over a recent window, from the proxies' statistics) and GET /v1/tap (the requests
/// every proxy handles from now on, merged into one server-sent event stream, filtered by the query).
/// </summary>
internal static class TelemetryApi
{
    private static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(10);

    public static IEndpointRouteBuilder MapTelemetryApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/stats", (string? window, StatsCollector collector) =>
        {
            var span = DefaultWindow;
            if (window is not null && !Contracts.Config.MeshDuration.TryParse(window, out span))
            {
                return Problems.Invalid("Invalid query", [new Contracts.Config.ConfigError("window", $"'{window}' is not a duration (e.g. 10s, 1m).")]);
            }

            return Results.Json(GoldenMetricsCalculator.Compute(collector.Collections, span), MeshJsonContext.Default.MeshStats);
        });

        endpoints.MapGet("/v1/tap", async (HttpContext context, ProxyRegistry proxies, MeshStateStore state, ProxyReader reader, ILogger<StatsCollector> logger) =>
        {
            var service = context.Request.Query["service"].ToString();
            var query = context.Request.QueryString.Value ?? "";
            var merged = Channel.CreateBounded<TapEvent>(new BoundedChannelOptions(4096) { FullMode = BoundedChannelFullMode.DropOldest });
            // Proxies that connect while the tap runs join it within a second; one whose tap ended (restarted, keeping its
            // id) joins again (TapReader.Rejoins).
            var readers = new Dictionary<string, TapReader>(StringComparer.Ordinal);
            // Until the watcher leaves or the control plane begins to stop.
            using var watching = OpenEndedRequest.Until(context);
            var ended = watching.Token;
            var joining = Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
                do
                {
                    foreach (var proxy in proxies.List(state.Current.Version)
                        .Where(p => p.Watching && ProxyReader.Readable(p) && (service.Length == 0 || p.Name == service)))
                    {
                        if (!readers.TryGetValue(proxy.Id, out var current) || current.Rejoins(proxy))
                        {
                            readers[proxy.Id] = new TapReader(ReadAsync(reader, proxy, query, merged.Writer, logger, ended), TapReader.Address(proxy));
                        }
                    }
                }
                while (await timer.WaitForNextTickAsync(ended).ConfigureAwait(false));
            });
            try
            {
                await TapStream.WriteAsync(context, merged.Reader.ReadAllAsync(ended), ended).ConfigureAwait(false);
            }
            finally
            {
                // However the stream ended, the readers of the proxies' taps end with it.
                await watching.CancelAsync().ConfigureAwait(false);
                try
                {
                    await joining.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }

                await Task.WhenAll(readers.Values.Select(r => r.Reading)).ConfigureAwait(false);
            }
        });

        return endpoints;
    }

    private static async Task ReadAsync(ProxyReader reader, ProxyInfo proxy, string query, ChannelWriter<TapEvent> merged, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await reader.GetAsync(proxy, "tap" + query, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            await foreach (var tapEvent in TapStream.ReadAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false))
            {
                merged.TryWrite(tapEvent);
            }
        }
        // One proxy's tap failing (also a malformed address it reported, or a certificate that cannot be used) never
        // ends the others', nor the stream.
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or JsonException or ObjectDisposedException
            or FormatException or System.Security.Cryptography.CryptographicException)
        {
            ControlPlaneLog.TapEnded(logger, proxy.Id, ex.Message);
        }
    }

    /// <summary>
    /// The reading of one proxy's tap. Once it has ended while the proxy is still there (a proxy restarted under its id,
    /// or its tap failed), the proxy is read again: at once when it reports another address (a restart on new ports),
    /// otherwise after <see cref="RetryTicks"/> seconds, so that a proxy whose tap keeps failing is not asked every second.
    /// </summary>
    private sealed class TapReader(Task reading, string address)
    {
        internal const int RetryTicks = 5;
        private int _endedTicks;

        public Task Reading => reading;

        public static string Address(ProxyInfo proxy) => $"{proxy.TelemetryAddress} {proxy.AdminAddress}";

        // Once a second, from the joining loop only.
        public bool Rejoins(ProxyInfo proxy) =>
            reading.IsCompleted && (!string.Equals(Address(proxy), address, StringComparison.Ordinal) || ++_endedTicks >= RetryTicks);
    }
}
