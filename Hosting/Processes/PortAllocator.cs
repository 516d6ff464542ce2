using System.Net;
using System.Net.Sockets;

namespace AspireMesh.Hosting.Processes;

/// <summary>Finds free loopback ports and checks that chosen ones are free.</summary>
public static class PortAllocator
{
    // Ports handed out by this process: the kernel may offer a released port again before its new owner binds it.
    private static readonly HashSet<int> Given = [];
    private static readonly Lock GivenGate = new();

    /// <summary>
    /// A port free right now on 127.0.0.1 and (where present) ::1: listeners bound to <c>localhost</c> take both, so
    /// a port free on one family only is no use to them.
    /// </summary>
    public static int FreePort()
    {
        for (var attempt = 0; ; attempt++)
        {
            int port;
            using (var listener = new TcpListener(IPAddress.Loopback, 0))
            {
                listener.Start();
                port = ((IPEndPoint)listener.LocalEndpoint).Port;
            }

            if (attempt < 20 && Socket.OSSupportsIPv6 && !CanBind(IPAddress.IPv6Loopback, port))
            {
                continue;
            }

            lock (GivenGate)
            {
                if (Given.Add(port) || attempt >= 20)
                {
                    return port;
                }
            }
        }
    }

    /// <summary>Whether <paramref name="port"/> can be bound on the IPv4 and (where present) IPv6 loopback.</summary>
    public static bool IsFree(int port) =>
        CanBind(IPAddress.Loopback, port) && (!Socket.OSSupportsIPv6 || CanBind(IPAddress.IPv6Loopback, port));

    private static bool CanBind(IPAddress address, int port)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen();
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
        {
            return false;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressNotAvailable)
        {
            // No IPv6 loopback configured on this host: nothing there can conflict.
            return address.AddressFamily == AddressFamily.InterNetworkV6;
        }
    }
}
