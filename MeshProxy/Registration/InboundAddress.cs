namespace AspireMesh.MeshProxy.Registration;

/// <summary>The address peers reach this instance at, known once the inbound listener has bound its port.</summary>
internal sealed class InboundAddress
{
    private readonly TaskCompletionSource<Uri> _address = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set(Uri address) => _address.TrySetResult(address);

    public Task<Uri> WaitAsync(CancellationToken cancellationToken) => _address.Task.WaitAsync(cancellationToken);
}
