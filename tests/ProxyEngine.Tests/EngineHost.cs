using AspireMesh.Contracts.Snapshots;
using AspireMesh.ProxyEngine.Configuration;
using AspireMesh.ProxyEngine.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ProxyEngine.Tests;

/// <summary>
/// The proxy engine on a real Kestrel listener, as Gateway and the sidecar's outbound side host it. Snapshots are
/// applied directly; its control-plane URL points at a closed port, so nothing else changes its config.
/// </summary>
internal sealed class EngineHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EngineHost(WebApplication app, ProxyStatus status, LogLines logs)
    {
        _app = app;
        Status = status;
        Logs = logs;
        Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        Client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri Url { get; }

    public HttpClient Client { get; }

    public ProxyStatus Status { get; }

    /// <summary>What the engine logged, one formatted message a line, with its category.</summary>
    public LogLines Logs { get; }

    /// <summary>The engine's services (its metrics, its status).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts the engine; <paramref name="beforeRoutes"/> adds middleware of the test's own after the proxy's (where
    /// an application's middleware runs, after what ASP.NET Core adds to every web application) and before its routes.
    /// </summary>
    public static async Task<EngineHost> StartAsync(TimeSpan? upstreamTimeout = null, TimeProvider? time = null, Action<WebApplication>? beforeRoutes = null)
    {
        var builder = ListenerHost.CreateBuilder("http://127.0.0.1:0");
        if (time is not null)
        {
            builder.Services.AddSingleton(time);
        }

        var logs = new LogLines();
        builder.Logging.AddProvider(logs);
        var status = new ProxyStatus();
        builder.Services.AddMeshProxyEngine(new ProxyEngineOptions
        {
            Kind = ProxyKinds.Gateway,
            Name = "test",
            ProxyId = "test-1",
            ControlPlane = Ports.ClosedUrl(),
            UpstreamTimeout = upstreamTimeout ?? TimeSpan.FromSeconds(30),
        }, status);
        var app = builder.Build();
        app.UseMeshErrors();
        beforeRoutes?.Invoke(app);
        app.MapMeshRoutes(context => $"nothing matched {context.Request.Host} {context.Request.Path}");
        await app.StartAsync();
        return new EngineHost(app, status, logs);
    }

    public Task<IReadOnlyList<string>> ApplyAsync(ProxySnapshot snapshot) =>
        _app.Services.GetRequiredService<SnapshotApplier>().ApplyAsync(snapshot, CancellationToken.None);

    /// <summary>A one-service snapshot: requests for Host <paramref name="service"/> go to <paramref name="endpoints"/>.</summary>
    public static ProxySnapshot HostSnapshot(long version, string service, params Uri[] endpoints) =>
        HostSnapshot(version, service, null, endpoints);

    /// <summary>As above, with a load balancer (round robin makes which endpoint gets which request predictable).</summary>
    public static ProxySnapshot HostSnapshot(long version, string service, string? loadBalancer, params Uri[] endpoints) =>
        new(version, [new RouteSnapshot($"service/{service}", [service], null, service)],
            [new ClusterSnapshot(service, [.. endpoints.Select((e, i) => new EndpointSnapshot($"{service}-{i + 1}", e.ToString().TrimEnd('/')))])
            {
                Policy = loadBalancer is null ? null : new Contracts.Config.BackendPolicy { Name = $"{service}-lb", TargetRef = new() { Name = service }, LoadBalancer = new() { Type = loadBalancer } },
            }]);

    public Task<HttpResponseMessage> GetAsync(string host, string path = "/", HttpClient? client = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        return (client ?? Client).SendAsync(request);
    }

    /// <summary>A client whose connections come from <paramref name="source"/> (any 127.x address), as another caller would.</summary>
    public HttpClient ClientFrom(string source) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(source), 0));
            await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        },
    }) { BaseAddress = Url };

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Keeps every message logged at Information or above as <c>category: message</c>.</summary>
internal sealed class LogLines : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, System.Collections.Concurrent.ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lines.Enqueue($"{category}: {formatter(state, exception)}");
            }
        }
    }
}
