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

    private static int _nextClosed;

    /// <summary>
    /// A port free on 127.0.0.1 right now, below the kernel's ephemeral range (32768 and up on Linux): for a server that
    /// binds it later, or binds it again after a restart. No outgoing connection and no <c>bind(0)</c> of another
    /// test can take it in between, as they can a port <see cref="Free"/> returned.
    /// </summary>
    public static int FreeBelowEphemeral()
    {
        for (var tries = 0; tries < 200; tries++)
        {
            var port = Random.Shared.Next(20000, 32000);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                // Taken: try another.
            }
        }

        throw new InvalidOperationException("no free port between 20000 and 32000 on 127.0.0.1");
    }

    /// <summary>Two different ports, each as <see cref="FreeBelowEphemeral()"/> returns one.</summary>
    public static (int First, int Second) TwoFreeBelowEphemeral()
    {
        var first = FreeBelowEphemeral();
        int second;
        while ((second = FreeBelowEphemeral()) == first)
        {
            // Drawn at random: the same one again.
        }

        return (first, second);
    }

    /// <summary>
    /// The URL of a loopback port nothing listens on: connections to it are refused. It is a privileged port (below
    /// 1024) found closed: never one the kernel hands out for <c>bind(0)</c> or an outgoing connection, so no test's
    /// server or client can take it later, as it could a port that was free a moment ago.
    /// </summary>
    public static Uri ClosedUrl()
    {
        for (var tries = 0; tries < 1023; tries++)
        {
            var port = 1 + (Interlocked.Increment(ref _nextClosed) % 1023);
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, port);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return new Uri($"http://127.0.0.1:{port}");
            }
        }

        throw new InvalidOperationException("every port below 1024 on 127.0.0.1 accepts connections");
    }
}
