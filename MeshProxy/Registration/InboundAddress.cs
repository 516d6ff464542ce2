namespace AspireMesh.MeshProxy.Registration;

/// <summary>The addresses peers reach this instance at, known once the inbound listener has bound its ports.</summary>
internal sealed class InboundAddress
{
    private readonly TaskCompletionSource<(Uri Http1, Uri Http2)> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set(Uri http1, Uri http2) => _address.TrySetResult((http1, http2));

    /// <summary>The HTTP/1.1 and the HTTP/2 (h2c) inbound URLs.</summary>
    public Task<(Uri Http1, Uri Http2)> WaitAsync(CancellationToken cancellationToken) => _address.Task.WaitAsync(cancellationToken);
}
