namespace AspireMesh.Gateway.Tls;

/// <summary>
/// The host names the HTTPS listener answers for (<c>--server-names</c>; a leading <c>*.</c> matches one more label).
/// A TLS handshake whose SNI names another host is refused; a handshake without SNI (a client that dialled an IP
/// address) is served. With no names configured every handshake is served.
/// </summary>
internal sealed class ServerNames(IReadOnlyList<string> names)
{
    public bool IsEmpty => names.Count == 0;

    public bool Accepts(string? serverName)
    {
        if (names.Count == 0 || string.IsNullOrEmpty(serverName))
        {
            return true;
        }

        foreach (var name in names)
        {
            if (name.StartsWith("*.", StringComparison.Ordinal))
            {
                var suffix = name[1..];
                if (serverName.Length > suffix.Length && serverName.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                    && !serverName.AsSpan(0, serverName.Length - suffix.Length).Contains('.'))
                {
                    return true;
                }
            }
            else if (string.Equals(name, serverName, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
