using System.Security.Authentication;
using AspireMesh.ProxyEngine.Telemetry;
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

    /// <summary>The client certificate check of the handshake in progress on this flow (set by the validation callback).</summary>
    private static readonly AsyncLocal<HandshakeOutcome?> Outcome = new();

    /// <summary>
    /// Adds mTLS beside plaintext to <paramref name="listen"/>; handshakes refused (no client certificate, one this mesh
    /// does not accept, or a failed handshake) are counted in <paramref name="metrics"/> under <paramref name="listener"/>
    /// (<see cref="TlsListeners"/>) and logged.
    /// </summary>
    public static void UseMeshTls(this ListenOptions listen, string listener, PeerAuthentication authentication, RequestMetrics metrics, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(authentication);
        ArgumentNullException.ThrowIfNull(metrics);
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
            if (first != TlsHandshakeRecord)
            {
                await plaintext!(connection).ConfigureAwait(false);
                return;
            }

            // The handshake runs inside tls(connection), on this flow: the validation callback reports to this outcome.
            var outcome = new HandshakeOutcome();
            Outcome.Value = outcome;
            try
            {
                await tls(connection).ConfigureAwait(false);
            }
            finally
            {
                // Kestrel ends a refused handshake quietly, without calling what follows it (which marks completion).
                if (!outcome.Completed)
                {
                    metrics.RecordTlsRefusal(listener, outcome.Checked switch
                    {
                        false => TlsRefusals.NoCertificate,
                        true when outcome.Refused => TlsRefusals.CertificateRefused,
                        _ => TlsRefusals.HandshakeFailed,
                    });
                }
            }
        });
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            // Read per handshake: a renewed certificate serves new connections while established ones carry on.
            ServerCertificateSelector = (_, _) => identity.Certificate,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (certificate, _, _) =>
            {
                var valid = authentication.ValidateClient(certificate, logger);
                if (Outcome.Value is { } outcome)
                {
                    outcome.Checked = true;
                    outcome.Refused = !valid;
                }

                return valid;
            },
            CheckCertificateRevocation = false,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            HandshakeTimeout = TimeSpan.FromSeconds(10),
        });
        // Registered last, so its "next" is the HTTP layer itself: what plaintext connections are handed to.
        listen.Use(http =>
        {
            plaintext = http;
            // Reached by a TLS connection only once its handshake completed.
            return connection =>
            {
                if (Outcome.Value is { } outcome)
                {
                    outcome.Completed = true;
                }

                return http(connection);
            };
        });
    }

    private sealed class HandshakeOutcome
    {
        public bool Completed { get; set; }

        public bool Checked { get; set; }

        public bool Refused { get; set; }
    }
}

/// <summary>Which listener refused a TLS handshake: the <c>listener</c> label of <c>mesh_tls_refusals_total</c>.</summary>
public static class TlsListeners
{
    /// <summary>A sidecar's inbound port: peers' sidecars and gateways.</summary>
    public const string Inbound = "inbound";

    /// <summary>A proxy's telemetry port: the control plane reading stats and tap.</summary>
    public const string Telemetry = "telemetry";
}

/// <summary>Why a listener refused a TLS handshake: the <c>reason</c> label of <c>mesh_tls_refusals_total</c>.</summary>
public static class TlsRefusals
{
    /// <summary>The client presented no certificate (mTLS is required on the TLS side of the port).</summary>
    public const string NoCertificate = "no-certificate";

    /// <summary>The client's certificate is not one of this mesh's (other CA, expired, no SPIFFE ID); the log says which.</summary>
    public const string CertificateRefused = "certificate-refused";

    /// <summary>The handshake failed otherwise (protocol version, cipher, timeout, a connection dropped mid-handshake).</summary>
    public const string HandshakeFailed = "handshake-failed";
}
