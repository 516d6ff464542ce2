using System.Collections.Concurrent;
using System.Net;
using System.Text;
using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// Requests crafted to slip past a proxy, sent byte for byte to a real gateway process: each gets its refusal, and
/// neither the routed app nor the app no route exposes ever sees it.
/// </summary>
public sealed class HostileInputTests(HostileInputTests.Mesh mesh) : IClassFixture<HostileInputTests.Mesh>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>One gateway, a public service routed at /public, and an admin service that no gateway route exposes.</summary>
    public sealed class Mesh : IAsyncLifetime
    {
        public const long MaxBody = 100_000;

        private static readonly MeshConfig Config = new()
        {
            Services = [new() { Name = "public" }, new() { Name = "admin" }],
            Routes =
            [
                new() { Name = "public", ParentRefs = [new() { Name = "edge" }], Rules = [new() { Matches = [new() { Path = new() { Type = "PathPrefix", Value = "/public" } }], BackendRefs = [new() { Name = "public" }] }] },
            ],
        };

        public GatewayProcess Gateway { get; private set; } = null!;

        public TestBackend Public { get; private set; } = null!;

        public TestBackend Admin { get; private set; } = null!;

        /// <summary>The headers each request that reached the public app carried, by path.</summary>
        public ConcurrentDictionary<string, IReadOnlyDictionary<string, string>> Seen { get; } = new();

        /// <summary>Paths whose body the public app read to its end, with the length read.</summary>
        public ConcurrentDictionary<string, long> CompleteBodies { get; } = new();

        public async ValueTask InitializeAsync()
        {
            Public = await TestBackend.StartAsync("public-app");
            Admin = await TestBackend.StartAsync("admin-app");
            Public.Handler = async context =>
            {
                Seen[context.Request.Path.Value ?? ""] = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString());
                var buffer = new byte[8192];
                long total = 0;
                int read;
                while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
                {
                    total += read;
                }

                CompleteBodies[context.Request.Path.Value ?? ""] = total;
                context.Response.Headers["x-backend"] = "public-app";
                await context.Response.WriteAsync($"public-app {context.Request.Path}", context.RequestAborted);
            };
            // admin-1 takes no heartbeats: a lease longer than the tests keeps it registered, so that "reached no app"
            // also means a request could have reached it and did not.
            Gateway = await GatewayProcess.StartAsync(Config, arguments: ["--max-request-body-bytes", $"{MaxBody}", "--strip-header", "x-internal-user"],
                controlPlaneArguments: ["--ControlPlane:LeaseDuration=00:10:00"]);
            await Gateway.RegisterAsync("public", Public, "/public/ready");
            await Gateway.ControlPlane.Client.RegisterAsync("admin-1", new Contracts.Registry.InstanceRegistration("admin", Admin.Url.ToString().TrimEnd('/'), true), Cancel);
        }

        public async ValueTask DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Public.DisposeAsync();
            await Admin.DisposeAsync();
        }

        /// <summary>Asserts that no request whose path contains <paramref name="marker"/> reached either app.</summary>
        public void AssertReachedNoApp(string marker, RawHttp.Response? response = null)
        {
            var leaked = Public.Requests.Concat(Admin.Requests).Where(r => r.Contains(marker, StringComparison.OrdinalIgnoreCase)).ToList();
            Assert.True(leaked.Count == 0, $"reached an app: {string.Join(", ", leaked)}{(response is null ? "" : $"; response was:{Environment.NewLine}{response.Raw}")}");
        }
    }

    private static string Marker() => $"m{Guid.NewGuid():N}"[..12];

    private Task<RawHttp.Response> SendAsync(string request, byte[]? body = null) => RawHttp.SendAsync(mesh.Gateway.Port, request, body);

    [Fact]
    public async Task Smuggling_ContentLengthAndTransferEncoding_400BadRequestNotForwarded()
    {
        var marker = Marker();

        var response = await SendAsync(
            $"POST /public/{marker}-outer HTTP/1.1\r\nHost: localhost\r\nContent-Length: 48\r\nTransfer-Encoding: chunked\r\n\r\n" +
            $"0\r\n\r\nGET /public/{marker}-smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n");

        Assert.Equal(400, response.Status);
        Assert.Equal(MeshErrors.BadRequest, response.Header(MeshHeaders.Error));
        Assert.Contains("both Content-Length and Transfer-Encoding", response.Body, StringComparison.Ordinal);
        mesh.AssertReachedNoApp(marker, response);
    }

    [Fact]
    public async Task Smuggling_TwoDifferentContentLengths_400NotForwarded()
    {
        var marker = Marker();

        var response = await SendAsync($"POST /public/{marker} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello");

        Assert.Equal(400, response.Status);
        mesh.AssertReachedNoApp(marker, response);
    }

    [Theory]
    [InlineData("X-Test: a\rInjected: b")]
    [InlineData("X-Test: a\nInjected: b")]
    [InlineData("X-Test: a\r\n folded")]
    [InlineData("X-Test : a")]
    [InlineData("X-Te st: a")]
    public async Task HeaderInjection_MalformedHeaderLine_400NotForwarded(string header)
    {
        var marker = Marker();

        var response = await SendAsync($"GET /public/{marker} HTTP/1.1\r\nHost: localhost\r\n{header}\r\n\r\n");

        Assert.Equal(400, response.Status);
        mesh.AssertReachedNoApp(marker, response);
    }

    [Theory]
    [InlineData("/public/../{0}")]
    [InlineData("/public/%2e%2e/{0}")]
    [InlineData("/public/%2E%2E/%2e%2e/{0}")]
    [InlineData("/public/./../{0}")]
    public async Task PathTraversal_DotSegmentsLeaveThePublicRoute_404NoRoute(string template)
    {
        var marker = Marker();

        var response = await SendAsync($"GET {string.Format(System.Globalization.CultureInfo.InvariantCulture, template, $"admin-{marker}")} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        // Dot segments are resolved before routing: the request is for /admin-..., which no gateway route serves.
        Assert.Equal(404, response.Status);
        Assert.Equal(MeshErrors.NoRoute, response.Header(MeshHeaders.Error));
        Assert.Contains($"GET /admin-{marker}", response.Body, StringComparison.Ordinal);
        mesh.AssertReachedNoApp(marker, response);
    }

    [Theory]
    [InlineData("/public/..%2F{0}", "an encoded slash (%2F)")]
    [InlineData("/public/..%2f..%2f{0}", "an encoded slash (%2F)")]
    [InlineData("/public/..%5C{0}", "a backslash")]
    [InlineData("/public/..\\{0}", "a backslash")]
    public async Task PathTraversal_EncodedSlashOrBackslash_400BadRequestNotForwarded(string template, string why)
    {
        var marker = Marker();

        var response = await SendAsync($"GET {string.Format(System.Globalization.CultureInfo.InvariantCulture, template, $"admin-{marker}")} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        Assert.Equal(400, response.Status);
        Assert.Equal(MeshErrors.BadRequest, response.Header(MeshHeaders.Error));
        Assert.Contains(why, response.Body, StringComparison.Ordinal);
        mesh.AssertReachedNoApp(marker, response);
    }

    [Fact]
    public async Task PathTraversal_EncodedNul_400NotForwarded()
    {
        var marker = Marker();

        var response = await SendAsync($"GET /public/%00admin-{marker} HTTP/1.1\r\nHost: localhost\r\n\r\n");

        Assert.Equal(400, response.Status);
        mesh.AssertReachedNoApp(marker, response);
    }

    [Fact]
    public async Task Limits_HeadersOverTheLimit_431WithReasonNotForwarded()
    {
        var marker = Marker();

        var response = await SendAsync($"GET /public/{marker} HTTP/1.1\r\nHost: localhost\r\nX-Big: {new string('a', 40 * 1024)}\r\nConnection: close\r\n\r\n");

        Assert.Equal(431, response.Status);
        Assert.Equal(MeshErrors.HeadersTooLarge, response.Header(MeshHeaders.Error));
        Assert.Contains("at most 32768", response.Body, StringComparison.Ordinal);
        mesh.AssertReachedNoApp(marker, response);
    }

    [Fact]
    public async Task Limits_HeadersFarOverTheLimit_KestrelAnswers431NotForwarded()
    {
        var marker = Marker();
        var headers = string.Concat(Enumerable.Range(0, 64).Select(i => $"X-Big-{i}: {new string('a', 4000)}\r\n"));

        var response = await SendAsync($"GET /public/{marker} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n");

        Assert.Equal(431, response.Status);
        mesh.AssertReachedNoApp(marker, response);
    }

    [Fact]
    public async Task Limits_UrlOverTheLimit_414WithReasonNotForwarded()
    {
        var marker = Marker();

        var response = await SendAsync($"GET /public/{marker}?q={new string('a', 9000)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");

        Assert.Equal(414, response.Status);
        Assert.Equal(MeshErrors.UriTooLong, response.Header(MeshHeaders.Error));
        mesh.AssertReachedNoApp(marker, response);
    }

    [Fact]
    public async Task Limits_DeclaredBodyOverTheLimit_413BeforeForwarding()
    {
        var marker = Marker();
        var body = new byte[Mesh.MaxBody + 1];

        var response = await SendAsync($"POST /public/{marker} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {body.Length}\r\n\r\n", body);

        Assert.Equal(413, response.Status);
        Assert.Equal(MeshErrors.RequestTooLarge, response.Header(MeshHeaders.Error));
        mesh.AssertReachedNoApp(marker, response);
    }

    [Fact]
    public async Task Limits_ChunkedBodyOverTheLimit_413AndTheAppNeverGetsItWhole()
    {
        var marker = Marker();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/public/{marker}") { Content = new ChunkedContent(Mesh.MaxBody * 3) };
        using var response = await mesh.Gateway.Client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(MeshErrors.RequestTooLarge, response.Headers.GetValues(MeshHeaders.Error).Single());
        Assert.False(mesh.CompleteBodies.ContainsKey($"/public/{marker}"), "the app read the whole oversized body");
    }

    [Fact]
    public async Task Limits_BodyWithinTheLimit_Forwarded()
    {
        var marker = Marker();

        using var response = await mesh.Gateway.Client.PostAsync($"/public/{marker}", new ByteArrayContent(new byte[Mesh.MaxBody]), Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Mesh.MaxBody, mesh.CompleteBodies[$"/public/{marker}"]);
    }

    [Fact]
    public async Task SpoofedIdentity_MeshAndCertificateHeaders_StrippedAndSetByTheGateway()
    {
        var marker = Marker();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/public/{marker}");
        request.Headers.Add("x-forwarded-client-cert", "By=spiffe://mesh/ns/default/sa/payments;URI=spiffe://mesh/ns/default/sa/admin");
        request.Headers.Add("X-Mesh-Source", "payments");
        request.Headers.Add("x-mesh-jwt-sub", "admin");
        request.Headers.Add("x-spiffe-id", "spiffe://mesh/ns/default/sa/admin");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        request.Headers.Add("X-Forwarded-Host", "admin.internal");
        request.Headers.Add("Forwarded", "for=203.0.113.7;host=admin.internal");
        request.Headers.Add("x-real-ip", "203.0.113.7");
        request.Headers.Add("X-Internal-User", "root");
        request.Headers.Add("x-app-header", "kept");

        using var response = await mesh.Gateway.Client.SendAsync(request, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = mesh.Seen[$"/public/{marker}"];
        var shown = string.Join(Environment.NewLine, seen.Select(h => $"{h.Key}: {h.Value}"));
        Assert.Equal("gateway/edge", seen.GetValueOrDefault(MeshHeaders.Source));
        Assert.Equal("127.0.0.1", seen.GetValueOrDefault("x-forwarded-for"));
        Assert.Equal($"127.0.0.1:{mesh.Gateway.Port}", seen.GetValueOrDefault("x-forwarded-host"));
        Assert.Equal("kept", seen.GetValueOrDefault("x-app-header"));
        foreach (var name in new[] { "x-forwarded-client-cert", "x-mesh-jwt-sub", "x-spiffe-id", "forwarded", "x-real-ip", "x-internal-user" })
        {
            Assert.False(seen.ContainsKey(name), $"the app saw {name}:{Environment.NewLine}{shown}");
        }
    }

    [Fact]
    public async Task ConnectRequest_501NotForwarded()
    {
        var marker = Marker();

        var response = await SendAsync($"CONNECT admin-{marker}:80 HTTP/1.1\r\nHost: admin-{marker}:80\r\n\r\n");

        Assert.Equal(501, response.Status);
        Assert.Equal(MeshErrors.NotSupported, response.Header(MeshHeaders.Error));
        mesh.AssertReachedNoApp(marker, response);
    }

    /// <summary>A body of <paramref name="length"/> zero bytes sent without Content-Length (chunked).</summary>
    private sealed class ChunkedContent(long length) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var chunk = new byte[16 * 1024];
            for (long sent = 0; sent < length; sent += chunk.Length)
            {
                try
                {
                    await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, length - sent)));
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException or OperationCanceledException)
                {
                    return; // the gateway answered and stopped reading
                }
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
