using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Security;

/// <summary>
/// Makes a listener port take mTLS and plaintext alike: the first byte of a connection tells them apart (a TLS
/// ClientHello starts with 0x16, an HTTP request with a letter). TLS connections get the workload certificate, offer
/// ALPN h2 and http/1.1, and must present a client certificate of this mesh; plaintext ones go straight to HTTP, where
/// <see cref="PeerAuthentication"/> refuses them in strict mode with a clear error instead of a bare reset.
/// </summary>
public static class MeshTlsListener
{
    private const byte TlsHandshakeRecord = 0x16;

    /// <summary>Adds mTLS beside plaintext to <paramref name="listen"/>.</summary>
    public static void UseMeshTls(this ListenOptions listen, PeerAuthentication authentication, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(authentication);
        var identity = authentication.Identity ?? throw new ArgumentException("mTLS needs a workload identity.", nameof(authentication));
        listen.Protocols = HttpProtocols.Http1AndHttp2;
        ConnectionDelegate? plaintext = null;
        listen.Use(tls => async connection =>
        {
            var input = connection.Transport.Input;
            var read = await input.ReadAsync(connection.ConnectionClosed).ConfigureAwait(false);
            if (read.Buffer.IsEmpty)
            {
                input.AdvanceTo(read.Buffer.Start);
                return;
            }

            var first = read.Buffer.FirstSpan[0];
            // Nothing consumed or examined: the next read sees the same bytes.
            input.AdvanceTo(read.Buffer.Start);
            await (first == TlsHandshakeRecord ? tls(connection) : plaintext!(connection)).ConfigureAwait(false);
        });
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            // Read per handshake: a renewed certificate serves new connections while established ones carry on.
            ServerCertificateSelector = (_, _) => identity.Certificate,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (certificate, _, _) => authentication.ValidateClient(certificate, logger),
            CheckCertificateRevocation = false,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            HandshakeTimeout = TimeSpan.FromSeconds(10),
        });
        // Registered last, so its "next" is the HTTP layer itself: what plaintext connections are handed to.
        listen.Use(http =>
        {
            plaintext = http;
            return http;
        });
    }
}
