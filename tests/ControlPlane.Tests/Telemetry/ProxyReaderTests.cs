using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Security;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.ControlPlane.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace AspireMesh.ControlPlane.Tests.Telemetry;

/// <summary>
/// How the control plane reads a proxy on another machine, at the telemetry address it reported: over mTLS, as itself,
/// and only from a proxy whose certificate is the workload it reported as.
/// </summary>
public sealed class ProxyReaderTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Stats_TelemetryAddress_ReadOverMtlsAsTheControlPlane_OnlyFromTheWorkloadTheProxyReportedAs()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ProxyReaderTests).Assembly, null, "--ControlPlane:StatsInterval=00:00:00.250",
            "--Logging:LogLevel:AspireMesh.ControlPlane.Telemetry.StatsCollector=Debug");
        using var catalog = await MeshIdentity.IssueAsync(controlPlane, ProxyKinds.Sidecar, "catalog");
        using var frontend = await MeshIdentity.IssueAsync(controlPlane, ProxyKinds.Sidecar, "frontend");
        // Two telemetry listeners that both claim to be catalog's: one holds catalog's certificate, the other frontend's.
        await using var genuine = await Listener.StartAsync(catalog.Certificate);
        await using var impostor = await Listener.StartAsync(frontend.Certificate);
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var watches = new List<Task>();
        // Besides: catalog-3 reports the genuine listener's address (it answers as catalog-1), and frontend-1, another
        // workload, does too (the genuine listener's certificate is not frontend's).
        foreach (var (id, name, listener) in new[] { ("catalog-1", "catalog", genuine), ("catalog-2", "catalog", impostor), ("catalog-3", "catalog", genuine), ("frontend-1", "frontend", genuine) })
        {
            var current = await controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, name, id, 0, Cancel);
            watches.Add(controlPlane.Client.WatchAsync(ProxyKinds.Sidecar, name, id, current!.Snapshot.Version, watching.Token));
            using var report = await controlPlane.Http.PostAsync($"v1/proxies/{id}/report", new StringContent(
                $$"""{"kind":"sidecar","name":"{{name}}","appliedVersion":{{current.Snapshot.Version}},"telemetryAddress":"{{listener.Url}}"}""", Encoding.UTF8, "application/json"), Cancel);
            Assert.Equal(HttpStatusCode.NoContent, report.StatusCode);
        }

        // The genuine one is read, and sees the control plane's own identity.
        await Eventually.UntilAsync(() => !genuine.Requests.IsEmpty, Deadline, "the control plane to read the genuine listener's /stats");
        Assert.Equal(("/stats", "spiffe://cluster.local/ns/aspiremesh-system/sa/controlplane"), genuine.Requests.First());

        // The impostor is connected to round after round, and refused each time before a request is sent.
        await Eventually.UntilAsync(() => impostor.Connections >= 3, Deadline, "the control plane to try the impostor's listener");
        Assert.Empty(impostor.Requests);

        // Reading frontend-1 at the genuine listener's address is refused at every round, on a connection of its own: a
        // connection checked for catalog is never reused for it (each refused handshake is one more connection).
        await Eventually.UntilAsync(() => genuine.Connections >= 6, Deadline, "the control plane to keep refusing the genuine listener as frontend's");

        // Two records read the same proxy (catalog-1 and catalog-3): the one it does not answer as is dropped, and the
        // control plane keeps collecting (a duplicate once stopped it).
        await controlPlane.Process.WaitForLineAsync($"No request statistics from proxy catalog-3: {Regex.Escape(genuine.Url.ToString().TrimEnd('/'))}/stats answered as proxy catalog-1", Deadline);
        var read = genuine.Requests.Count;
        await Eventually.UntilAsync(() => genuine.Requests.Count >= read + 4, Deadline, "the control plane to go on reading the genuine listener");
        Assert.False(controlPlane.Process.Exited.IsCompleted, controlPlane.Process.Output);
        Assert.DoesNotContain("A round of collecting", controlPlane.Process.Output, StringComparison.Ordinal);
        using (var health = await controlPlane.Http.GetAsync("health", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }

        await watching.CancelAsync();
        await Task.WhenAll(watches.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default)));
    }

    [Fact]
    public async Task Report_TelemetryAddressNotHttpsHostAndPort_400NamingIt()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ProxyReaderTests).Assembly, null);
        foreach (var address in new[] { "http://127.0.0.1:15020", "https://127.0.0.1:15020/v1/config", "not a url" })
        {
            using var report = await controlPlane.Http.PostAsync("v1/proxies/catalog-1/report", new StringContent(
                $$"""{"kind":"sidecar","name":"catalog","appliedVersion":0,"telemetryAddress":"{{address}}"}""", Encoding.UTF8, "application/json"), Cancel);

            Assert.Equal(HttpStatusCode.BadRequest, report.StatusCode);
            var problem = await report.Content.ReadFromJsonAsync(MeshJsonContext.Default.MeshProblem, Cancel);
            Assert.Contains(problem!.Errors!, e => e.Path == "telemetryAddress" && e.Message.Contains($"'{address}' is not the address of a telemetry listener", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:15000", "127.0.0.1", true)]
    [InlineData("http://localhost:15000", "::1", true)]
    [InlineData("http://127.0.0.1:15000", "10.1.2.3", false)] // from a pod: its loopback is not the control plane's
    [InlineData("http://10.1.2.3:15000", "127.0.0.1", false)]
    [InlineData("http://169.254.169.254:80", "10.1.2.3", false)]
    [InlineData("https://127.0.0.1:15000", "127.0.0.1", false)]
    [InlineData("http://user@127.0.0.1:15000", "127.0.0.1", false)]
    [InlineData("http://127.0.0.1:8761/v1/config/", "127.0.0.1", false)] // + "stats": not a proxy's admin listener
    public void AdminAddress_TakenOnlyOnLoopbackFromLoopback(string address, string reportedFrom, bool taken) =>
        Assert.Equal(taken ? address : null, ProxiesApi.AcceptedAdminAddress(address, IPAddress.Parse(reportedFrom)));

    [Theory]
    [InlineData("https://10.1.2.3:15020", "10.1.2.3", true)] // a pod reports its own IP
    [InlineData("https://10.1.2.3:15020", "::ffff:10.1.2.3", true)] // through a dual-stack listener
    [InlineData("https://[fd00::7]:15020", "fd00::7", true)]
    [InlineData("https://10.9.9.9:22", "10.1.2.3", false)] // another host: the control plane would connect where it is told
    [InlineData("https://127.0.0.1:8761", "10.1.2.3", false)]
    [InlineData("https://internal.example:443", "10.1.2.3", false)]
    [InlineData("https://10.9.9.9:15020", "127.0.0.1", true)] // a proxy on this machine
    public void TelemetryAddress_FromAnotherMachine_OnlyItsOwnAddress(string address, string reportedFrom, bool taken) =>
        Assert.Equal(taken ? address : null, ProxiesApi.AcceptedTelemetryAddress(address, IPAddress.Parse(reportedFrom)));

    /// <summary>A stand-in telemetry listener: TLS with a given certificate, a client certificate required, and a record of what reached it.</summary>
    private sealed class Listener : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _connections;

        private Listener(WebApplication app) => _app = app;

        public Uri Url { get; private set; } = null!;

        /// <summary>TCP connections accepted (each a handshake attempted).</summary>
        public int Connections => Volatile.Read(ref _connections);

        /// <summary>Requests that got through the handshake: path and the caller's SPIFFE ID.</summary>
        public ConcurrentQueue<(string Path, string? Caller)> Requests { get; } = new();

        public static async Task<Listener> StartAsync(X509Certificate2 certificate)
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
            builder.Logging.ClearProviders();
            Listener? listener = null;
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, o =>
            {
                o.Use(next => connection =>
                {
                    Interlocked.Increment(ref listener!._connections);
                    return next(connection);
                });
                o.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = certificate,
                    ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                    ClientCertificateValidation = (_, _, _) => true,
                });
            }));
            var app = builder.Build();
            listener = new Listener(app);
            app.Run(async context =>
            {
                listener.Requests.Enqueue((context.Request.Path, context.Connection.ClientCertificate is { } c && SpiffeId.TryFrom(c, out var id) ? id.ToString() : null));
                await context.Response.WriteAsJsonAsync(new AspireMesh.Contracts.Admin.ProxyStats("catalog-1", DateTimeOffset.UtcNow, [], [], [], [], 0, 0), MeshJsonContext.Default.ProxyStats);
            });
            await app.StartAsync();
            listener.Url = new Uri(app.Urls.Single().Replace("http://", "https://", StringComparison.Ordinal).TrimEnd('/'));
            return listener;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
