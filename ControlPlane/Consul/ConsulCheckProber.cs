using System.Net;
using System.Net.Sockets;
using AspireMesh.ControlPlane.Registry;

namespace AspireMesh.ControlPlane.Consul;

/// <summary>
/// Runs the HTTP and TCP checks Consul clients register (Spring Cloud Consul's default is an HTTP check of
/// <c>/actuator/health</c>), as the Consul agent does: each every interval, no two of one check at once, each bounded by its
/// timeout, the output kept to 4 KB as Consul keeps it.
/// </summary>
internal sealed class ConsulCheckProber(InstanceRegistry registry) : BackgroundService
{
    private const int MaxOutput = 4096;
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    // Consul's checks open a connection each time (no keep-alive) and follow redirects.
    private readonly HttpClient _verifying = new(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = Timeout.InfiniteTimeSpan };
    private readonly HttpClient _skipVerify = new(new SocketsHttpHandler
    {
        UseProxy = false,
        PooledConnectionLifetime = TimeSpan.Zero,
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
    }) { Timeout = Timeout.InfiniteTimeSpan };

    public override void Dispose()
    {
        _verifying.Dispose();
        _skipVerify.Dispose();
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

    private async Task RunAsync(string id, ConsulProbe probe, DateTimeOffset started, CancellationToken stoppingToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        deadline.CancelAfter(probe.Timeout);
        string status;
        string output;
        try
        {
            (status, output) = probe.Kind == ConsulProbe.Http ? await HttpAsync(probe, deadline.Token).ConfigureAwait(false) : await TcpAsync(probe, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            (status, output) = (ConsulRegistration.Critical, $"{Described(probe)}: no answer within {probe.Timeout.TotalSeconds:0.###} s (Check.Timeout)");
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or IOException or InvalidOperationException or ArgumentException or FormatException)
        {
            (status, output) = (ConsulRegistration.Critical, $"{Described(probe)}: {ex.Message}");
        }
        catch (OperationCanceledException)
        {
            return;
        }

        registry.ProbeResult(id, probe, started, status, output.Length > MaxOutput ? output[..MaxOutput] : output);
    }

    private async Task<(string Status, string Output)> HttpAsync(ConsulProbe probe, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(new HttpMethod(probe.Method), probe.Target);
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
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(target.IdnHost.Trim('[', ']'), target.Port, cancellationToken).ConfigureAwait(false);
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
}
