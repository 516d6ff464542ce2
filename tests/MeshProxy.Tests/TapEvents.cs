using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Telemetry;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>Reads a tap's server-sent events in the background, into a list a test polls.</summary>
internal static class TapEvents
{
    /// <summary>
    /// Starts reading <paramref name="response"/>'s events into <paramref name="events"/> (lock it to read) until the stream
    /// ends or <paramref name="cancellationToken"/> is cancelled; the task ends then.
    /// </summary>
    public static Task ReadIntoAsync(HttpResponseMessage response, List<TapEvent> events, CancellationToken cancellationToken) => Task.Run(async () =>
    {
        await foreach (var tapEvent in TapStream.ReadAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken))
        {
            lock (events)
            {
                events.Add(tapEvent);
            }
        }
    }, cancellationToken);
}
