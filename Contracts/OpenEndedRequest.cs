using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AspireMesh.Contracts;

/// <summary>
/// For a request that waits open-ended (a long poll, a blocking query, an event stream): a token that ends when the
/// caller leaves or when the server begins to stop. A graceful stop waits for the requests in flight, so without it a
/// stop would wait out each watcher's wait, or its own timeout, instead of answering them at once.
/// </summary>
public static class OpenEndedRequest
{
    /// <summary>Cancelled when <paramref name="context"/>'s caller leaves or the application begins to stop.</summary>
    public static CancellationTokenSource Until(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted,
            context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
    }

    /// <summary>Whether the wait ended because the application is stopping (the caller is still there to be answered).</summary>
    public static bool Stopping(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return !context.RequestAborted.IsCancellationRequested
            && context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested;
    }
}
