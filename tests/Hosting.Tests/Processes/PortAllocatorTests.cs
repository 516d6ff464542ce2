using System.Net;
using System.Net.Sockets;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Hosting.Tests.Processes;

public sealed class PortAllocatorTests
{
    [Fact]
    public void IsFree_PortHeldByAListener_False()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();

        Assert.False(PortAllocator.IsFree(((IPEndPoint)listener.LocalEndpoint).Port));
    }

    [Fact]
    public void FreePort_Returned_CanBeBound()
    {
        Assert.True(PortAllocator.IsFree(PortAllocator.FreePort()));
    }
}
