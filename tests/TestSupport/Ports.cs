using System.Net;
using System.Net.Sockets;

namespace AspireMesh.TestSupport;

/// <summary>Loopback ports for tests.</summary>
public static class Ports
{
    /// <summary>A port free on 127.0.0.1 right now.</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The URL of a loopback port nothing listens on: connections to it are refused.</summary>
    public static Uri ClosedUrl() => new($"http://127.0.0.1:{Free()}");
}
