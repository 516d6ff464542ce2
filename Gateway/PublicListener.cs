using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using AspireMesh.Gateway.Ingress;
using AspireMesh.Gateway.Tls;
using AspireMesh.ProxyEngine.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace AspireMesh.Gateway;

/// <summary>Where and how the gateway's public listener accepts connections.</summary>
/// <param name="Host">Host to bind: <c>localhost</c> (both loopbacks), an IP address, or <c>*</c> / a host name (every address).</param>
/// <param name="Port">Plain-HTTP port (0 = any free port).</param>
/// <param name="HttpsPort">HTTPS port (HTTP/1.1 and HTTP/2 by ALPN), or null for none.</param>
/// <param name="Certificate">The certificate HTTPS serves (required with <paramref name="HttpsPort"/>).</param>
/// <param name="ServerNames">The SNI names HTTPS answers for.</param>
/// <param name="Ingress">Limits Kestrel enforces as a backstop to the gateway's own.</param>
internal sealed record PublicListenerOptions(string Host, int Port, int? HttpsPort, X509Certificate2? Certificate, ServerNames ServerNames, IngressOptions Ingress);

/// <summary>Builds the gateway's public listener: plain HTTP, and HTTPS when configured.</summary>
internal static class PublicListener
{
    public static WebApplicationBuilder CreateBuilder(PublicListenerOptions options)
    {
        var builder = ListenerHost.CreateBuilder(kestrel =>
        {
            // Plain HTTP/1.1 runs inline under --io auto (the default); HTTPS, where HTTP/2 is negotiated, does not.
            Listen(kestrel, options.Host, options.Port, listen => listen.PreferInline());
            if (options.HttpsPort is { } httpsPort)
            {
                var certificate = options.Certificate ?? throw new InvalidOperationException("HTTPS needs a certificate.");
                var context = SslStreamCertificateContext.Create(certificate, additionalCertificates: null);
                Listen(kestrel, options.Host, httpsPort, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(new TlsHandshakeCallbackOptions
                    {
                        OnConnection = hello => Handshake(hello, context, options.ServerNames),
                        HandshakeTimeout = TimeSpan.FromSeconds(10),
                    });
                });
            }
        });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Kestrel's limits sit above the gateway's (see IngressOptions.Backstop), so requests just over the gateway's
            // are refused with its reason, and nothing larger is ever buffered.
            kestrel.Limits.MaxRequestHeadersTotalSize = IngressOptions.Backstop(options.Ingress.MaxHeaderBytes);
            kestrel.Limits.MaxRequestLineSize = IngressOptions.Backstop(options.Ingress.MaxUrlLength);
        });
        return builder;
    }

    private static ValueTask<SslServerAuthenticationOptions> Handshake(TlsHandshakeCallbackContext hello, SslStreamCertificateContext certificate, ServerNames names)
    {
        if (!names.Accepts(hello.ClientHelloInfo.ServerName))
        {
            // Failing the handshake closes the connection before any HTTP is read: an unknown name reaches no route.
            throw new AuthenticationException($"TLS handshake for unknown server name '{hello.ClientHelloInfo.ServerName}' refused.");
        }

        return ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateRequired = false,
        });
    }

    private static void Listen(KestrelServerOptions kestrel, string host, int port, Action<ListenOptions> configure)
    {
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(port, configure);
        }
        else if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            kestrel.Listen(address, port, configure);
        }
        else
        {
            kestrel.ListenAnyIP(port, configure);
        }
    }
}
