using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using AspireMesh.ControlPlane.Registry;

namespace AspireMesh.ControlPlane.Consul;

/// <summary>
/// Runs the HTTP and TCP checks Consul clients register (Spring Cloud Consul's default is an HTTP check of
/// <c>/actuator/health</c>), as the Consul agent does: each every interval, no two runs of one check at once, each bounded
/// by its timeout, the output kept to 4 KB as Consul keeps it. Redirects are followed within the instance's own address
/// only (not at all with <c>DisableRedirects</c>), and a check registered from elsewhere never connects to a local address (<see cref="ConsulProbe.MayCallLocal"/>), whatever its host name resolves to.
/// </summary>
internal sealed class ConsulCheckProber(InstanceRegistry registry) : BackgroundService
{
    private const int MaxOutput = 4096;
    private const int MaxConcurrent = 64;
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    private const int MaxRedirects = 10;
    private static readonly HttpRequestOptionsKey<ConsulProbe> Probe = new("aspiremesh.probe");
    private static readonly HttpRequestOptionsKey<bool> Tls = new("aspiremesh.probe.tls");
    private static readonly HttpRequestOptionsKey<CancellationToken> Deadline = new("aspiremesh.probe.deadline");

    private readonly SemaphoreSlim _running = new(MaxConcurrent);
    private readonly HttpClient _client = NewClient();

    public override void Dispose()
    {
        _client.Dispose();
        _running.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Tick);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                foreach (var (id, probe, started) in registry.TakeDueProbes())
                {
                    _ = RunAsync(id, probe, started, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    // Consul's checks open a connection each time (no keep-alive), so every connection is made for one request, with that
    // check's own TLS settings: an https check is sent as plain HTTP over the TLS stream made here (ConnectAsync), which
    // is what lets a check name the server it asks for (TLSServerName) and skip verification (TLSSkipVerify) on its own.
    // Redirects are followed here, not by the handler (HttpAsync).
    private static HttpClient NewClient() =>
        new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.Zero, ConnectCallback = ConnectAsync })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage;
        var probe = request.Options.TryGetValue(Probe, out var p) ? p : throw new InvalidOperationException("a probe's request without its probe");
        // The handler's token is the connection's, which may outlive the request: the check's own deadline bounds it too.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, request.Options.TryGetValue(Deadline, out var deadline) ? deadline : CancellationToken.None);
        cancellationToken = linked.Token;
        var socket = await OpenAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, probe.MayCallLocal, cancellationToken).ConfigureAwait(false);
        var stream = new NetworkStream(socket, ownsSocket: true);
        if (!(request.Options.TryGetValue(Tls, out var tls) && tls))
        {
            return stream;
        }

        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        var targetHost = probe.TlsServerName ?? context.DnsEndPoint.Host.Trim('[', ']');
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = targetHost,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                RemoteCertificateValidationCallback = probe.TlsSkipVerify ? (_, _, _, _) => true : null,
            }, cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new System.Security.Authentication.AuthenticationException($"TLS handshake with {targetHost}{(probe.TlsServerName is null ? "" : " (TLSServerName)")} failed: {ex.Message}", ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<Socket> OpenAsync(string host, int port, bool mayCallLocal, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        if (!mayCallLocal && addresses.FirstOrDefault(ConsulProbe.IsLocal) is { } local)
        {
            throw new ProbeRefusedException($"{host} is {local}, a local address, which a check registered from another machine may not call");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, port, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task RunAsync(string id, ConsulProbe probe, DateTimeOffset started, CancellationToken stoppingToken)
    {
        var (status, output) = (ConsulRegistration.Critical, $"{Described(probe)}: not run");
        var report = true;
        try
        {
            await _running.WaitAsync(stoppingToken).ConfigureAwait(false);
            try
            {
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                deadline.CancelAfter(probe.Timeout);
                (status, output) = probe.Kind == ConsulProbe.Http ? await HttpAsync(probe, deadline.Token).ConfigureAwait(false) : await TcpAsync(probe, deadline.Token).ConfigureAwait(false);
            }
            finally
            {
                _running.Release();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            report = false;
        }
        catch (OperationCanceledException)
        {
            output = $"{Described(probe)}: no answer within {probe.Timeout.TotalSeconds:0.###} s (Check.Timeout)";
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or IOException or InvalidOperationException or ArgumentException or FormatException or ProbeRefusedException)
        {
            output = $"{Described(probe)}: {ex.InnerException switch
            {
                ProbeRefusedException refused => refused.Message,
                System.Security.Authentication.AuthenticationException tls => tls.Message,
                _ => ex.Message,
            }}";
        }
        finally
        {
            // Always due again, whatever happened to this run (unless the control plane is stopping).
            if (report)
            {
                registry.ProbeResult(id, probe, started, status, output.Length > MaxOutput ? output[..MaxOutput] : output);
            }
        }
    }

    private async Task<(string Status, string Output)> HttpAsync(ConsulProbe probe, CancellationToken cancellationToken)
    {
        var target = new Uri(probe.Target);
        var (method, body) = (probe.Method, probe.Body);
        var redirects = new List<Uri>();
        while (true)
        {
            using var request = NewRequest(probe, target, method, body);
            request.Options.Set(Deadline, cancellationToken);
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            var note = "";
            if (code is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location && probe.FollowRedirects)
            {
                var next = location.IsAbsoluteUri ? location : new Uri(target, location);
                if (redirects.Count == MaxRedirects - 1)
                {
                    // As Go's client (Consul's): at most ten requests in all.
                    note = $" (not followed: {MaxRedirects} requests made)";
                }
                else if (next.Scheme != target.Scheme || !string.Equals(next.IdnHost, target.IdnHost, StringComparison.OrdinalIgnoreCase) || next.Port != target.Port || next.UserInfo.Length > 0)
                {
                    // Only the instance itself is probed: a redirect elsewhere could lead the control plane anywhere.
                    note = $" (the redirect to {next.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped)} is not followed: it leaves the instance's address)";
                }
                else
                {
                    redirects.Add(next);
                    target = next;
                    // As Go's client (Consul's) does: after a 301, 302 or 303 the body is dropped and any method but GET
                    // and HEAD becomes GET; a 307 or 308 asks again as it was.
                    if (code is 301 or 302 or 303)
                    {
                        body = null;
                        method = method is "GET" or "HEAD" ? method : "GET";
                    }

                    continue;
                }
            }

            var text = await ReadSomeAsync(response.Content, cancellationToken).ConfigureAwait(false);
            var status = code is >= 200 and < 300 ? ConsulRegistration.Passing
                : response.StatusCode == HttpStatusCode.TooManyRequests ? ConsulRegistration.Warning
                : ConsulRegistration.Critical;
            var via = redirects.Count == 0 ? "" : $" (redirected to {target.GetLeftPart(UriPartial.Path)})";
            return (status, $"{Described(probe)}{via}: {code} {response.ReasonPhrase}{note} Output: {text}");
        }
    }

    private static HttpRequestMessage NewRequest(ConsulProbe probe, Uri target, string method, string? body)
    {
        var tls = target.Scheme == Uri.UriSchemeHttps;
        // An https target is asked over the TLS stream ConnectAsync makes, as plain HTTP, with the Host it names.
        var request = new HttpRequestMessage(new HttpMethod(method), tls ? new UriBuilder(target) { Scheme = Uri.UriSchemeHttp, Port = target.Port }.Uri : target);
        request.Options.Set(Probe, probe);
        request.Options.Set(Tls, tls);
        if (tls)
        {
            var host = target.HostNameType == UriHostNameType.IPv6 ? $"[{target.IdnHost}]" : target.IdnHost;
            request.Headers.Host = target.IsDefaultPort ? host : $"{host}:{target.Port}";
        }

        if (body is not null)
        {
            request.Content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(body));
        }

        foreach (var (name, value) in probe.Headers)
        {
            if (string.Equals(name, "Host", StringComparison.OrdinalIgnoreCase))
            {
                // Replaces the URL's, as Consul sets the request's Host from it (the TLS name stays the URL's or TLSServerName).
                request.Headers.Remove("Host");
                request.Headers.TryAddWithoutValidation("Host", value);
            }
            else if (!request.Headers.TryAddWithoutValidation(name, value) && request.Content is not null)
            {
                // A content header (Content-Type of the body): sent only with a body.
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return request;
    }

    private static async Task<(string Status, string Output)> TcpAsync(ConsulProbe probe, CancellationToken cancellationToken)
    {
        var target = new Uri($"tcp://{probe.Target}");
        using var socket = await OpenAsync(target.IdnHost, target.Port, probe.MayCallLocal, cancellationToken).ConfigureAwait(false);
        return (ConsulRegistration.Passing, $"{Described(probe)}: Success");
    }

    private static async Task<string> ReadSomeAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[MaxOutput];
        var read = 0;
        int n;
        while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false)) > 0)
        {
            read += n;
        }

        return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
    }

    private static string Described(ConsulProbe probe) => probe.Kind == ConsulProbe.Http ? $"HTTP {probe.Method} {probe.Target}" : $"TCP connect {probe.Target}";

    /// <summary>A check that may not connect where its host name leads.</summary>
    private sealed class ProbeRefusedException(string message) : Exception(message);
}
