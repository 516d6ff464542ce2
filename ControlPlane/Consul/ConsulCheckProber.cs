using System.Net;
using System.Net.Sockets;
using AspireMesh.ControlPlane.Registry;

namespace AspireMesh.ControlPlane.Consul;

/// <summary>
/// Runs the HTTP and TCP checks Consul clients register (Spring Cloud Consul's default is an HTTP check of
/// <c>/actuator/health</c>), as the Consul agent does: each every interval, no two runs of one check at once, each bounded
/// by its timeout, the output kept to 4 KB as Consul keeps it. Redirects are not followed, and a check registered from
/// elsewhere never connects to a local address (<see cref="ConsulProbe.MayCallLocal"/>), whatever its host name resolves to.
/// </summary>
internal sealed class ConsulCheckProber(InstanceRegistry registry) : BackgroundService
{
    private const int MaxOutput = 4096;
    private const int MaxConcurrent = 64;
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);
    private static readonly HttpRequestOptionsKey<bool> MayCallLocal = new("aspiremesh.probe.may-call-local");

    private readonly SemaphoreSlim _running = new(MaxConcurrent);
    private readonly HttpClient _verifying = NewClient(skipVerify: false);
    private readonly HttpClient _skipVerify = NewClient(skipVerify: true);

    public override void Dispose()
    {
        _verifying.Dispose();
        _skipVerify.Dispose();
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

    // Consul's checks open a connection each time (no keep-alive); this one follows no redirect (a 3xx is critical).
    private static HttpClient NewClient(bool skipVerify)
    {
        var handler = new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.Zero, ConnectCallback = ConnectAsync };
        if (skipVerify)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        }

        return new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var mayCallLocal = context.InitialRequestMessage.Options.TryGetValue(MayCallLocal, out var allowed) && allowed;
        var socket = await OpenAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, mayCallLocal, cancellationToken).ConfigureAwait(false);
        return new NetworkStream(socket, ownsSocket: true);
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
            output = $"{Described(probe)}: {(ex.InnerException is ProbeRefusedException refused ? refused.Message : ex.Message)}";
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
        using var request = new HttpRequestMessage(new HttpMethod(probe.Method), probe.Target);
        request.Options.Set(MayCallLocal, probe.MayCallLocal);
        foreach (var (name, value) in probe.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await (probe.TlsSkipVerify ? _skipVerify : _verifying).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var body = await ReadSomeAsync(response.Content, cancellationToken).ConfigureAwait(false);
        var code = (int)response.StatusCode;
        var status = code is >= 200 and < 300 ? ConsulRegistration.Passing
            : response.StatusCode == HttpStatusCode.TooManyRequests ? ConsulRegistration.Warning
            : ConsulRegistration.Critical;
        return (status, $"{Described(probe)}: {code} {response.ReasonPhrase} Output: {body}");
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
