using System.Text.Json;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Contracts.Telemetry;

/// <summary>Writes tap events as server-sent events (<c>data: {json}</c>), flushed one by one, until the watcher leaves.</summary>
public static class TapStream
{
    /// <summary>Reads the events of a tap stream (as <see cref="WriteAsync"/> writes them) until it ends.</summary>
    public static async IAsyncEnumerable<TapEvent> ReadAsync(Stream stream, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream);
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal) && JsonSerializer.Deserialize(line.AsSpan(6), MeshJsonContext.Tolerant.TapEvent) is { } tapEvent)
            {
                yield return tapEvent;
            }
        }
    }

    /// <summary>
    /// Streams <paramref name="events"/> to the response; a comment line first, so the watcher knows it is connected.
    /// Ends when the events' source is cancelled by <paramref name="ended"/> (the token it was given: the watcher left,
    /// or the server is stopping, see <see cref="OpenEndedRequest"/>).
    /// </summary>
    public static async Task WriteAsync(HttpContext context, IAsyncEnumerable<TapEvent> events, CancellationToken ended)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(events);
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.WriteAsync(": tap\n\n", context.RequestAborted).ConfigureAwait(false);
        await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        try
        {
            await foreach (var tapEvent in events.ConfigureAwait(false))
            {
                await context.Response.WriteAsync("data: ", context.RequestAborted).ConfigureAwait(false);
                await JsonSerializer.SerializeAsync(context.Response.Body, tapEvent, MeshJsonContext.Default.TapEvent, context.RequestAborted).ConfigureAwait(false);
                await context.Response.WriteAsync("\n\n", context.RequestAborted).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            // The watcher left, or the server is stopping: the stream ends.
        }
    }
}
