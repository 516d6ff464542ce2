using System.Net;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The standard resilience of an HttpClient, on Polly.Core, shaped after Aspire's defaults: a total timeout, retries
/// of transient failures (5xx, 408, 429, connection errors) with exponential backoff and jitter, a circuit breaker, and
/// a per-attempt timeout. Behind a mesh sidecar the sidecar already retries within its retry budget, so only the total
/// timeout applies there: retrying in both places would multiply load in an outage.
/// </summary>
internal sealed class ResilienceHandler(ResiliencePipeline<HttpResponseMessage> pipeline) : DelegatingHandler
{
    public static ResiliencePipeline<HttpResponseMessage> Create(bool behindSidecar, TimeProvider time)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }
            .AddTimeout(TimeSpan.FromSeconds(30));
        if (behindSidecar)
        {
            return builder.Build();
        }

        var transient = new PredicateBuilder<HttpResponseMessage>()
            .Handle<HttpRequestException>()
            .Handle<TimeoutRejectedException>()
            .HandleResult(r => (int)r.StatusCode >= 500 || r.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests);
        return builder
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = transient,
                MaxRetryAttempts = 3,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(200),
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = transient,
                FailureRatio = 0.1,
                MinimumThroughput = 100,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(5),
            })
            .AddTimeout(TimeSpan.FromSeconds(10))
            .Build();
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // Each attempt sends the same message again; HttpClient allows that for requests without a consumed body.
        return await pipeline.ExecuteAsync(static async (state, token) =>
        {
            var response = await state.Handler.SendCoreAsync(state.Request, token).ConfigureAwait(false);
            return response;
        }, (Handler: this, Request: request), cancellationToken).ConfigureAwait(false);
    }

    private Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken cancellationToken) => base.SendAsync(request, cancellationToken);
}
