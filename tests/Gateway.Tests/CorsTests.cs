using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// Routes' CORS filters at a real gateway whose every route needs a JWT: preflights answered by the gateway itself
/// (before authentication, never reaching the app), actual responses carrying the route's CORS headers in place of the
/// app's, and a real browser (Debian's chromium) making cross-origin calls from a page of another origin.
/// </summary>
public sealed class CorsTests(CorsTests.Mesh mesh) : IClassFixture<CorsTests.Mesh>
{
    private const string Chromium = "/usr/bin/chromium";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public sealed class Mesh : IAsyncLifetime
    {
        public RSA Rsa { get; } = RSA.Create(2048);

        public GatewayProcess Gateway { get; private set; } = null!;

        public TestBackend Api { get; private set; } = null!;

        /// <summary>Serves the page a browser calls the gateway from: another origin.</summary>
        public TestBackend Page { get; private set; } = null!;

        /// <summary>The page's origin, which the <c>spa</c> route allows.</summary>
        public string PageOrigin => Page.Url.GetLeftPart(UriPartial.Authority);

        /// <summary>Every request that reached the app: method and path.</summary>
        public ConcurrentQueue<string> Reached { get; } = new();

        public string Token => TestTokens.Rs256(Rsa, "rsa-1", TestTokens.Claims());

        public async ValueTask InitializeAsync()
        {
            Page = await TestBackend.StartAsync("page");
            Page.Handler = context =>
            {
                context.Response.ContentType = "text/html";
                return context.Response.WriteAsync("<!doctype html><title>spa</title>");
            };
            Api = await TestBackend.StartAsync("api-app");
            Api.Handler = context =>
            {
                Reached.Enqueue($"{context.Request.Method} {context.Request.Path}");
                // The app's own CORS answer, which a route's filter replaces.
                context.Response.Headers.AccessControlAllowOrigin = "https://evil.example";
                context.Response.Headers["x-backend"] = "api-app";
                return context.Response.WriteAsync("ok");
            };
            var jwk = TestTokens.Jwk(Rsa, "rsa-1");
            var config = new MeshConfig
            {
                Services = [new() { Name = "api" }],
                Routes =
                [
                    Route("spa", "/spa", new CorsFilter
                    {
                        AllowOrigins = [PageOrigin, "https://app.example", "https://*.shop.example"],
                        AllowMethods = ["PUT", "DELETE"],
                        AllowHeaders = ["x-trace", "authorization"],
                        ExposeHeaders = ["x-backend"],
                        AllowCredentials = true,
                        MaxAge = 600,
                    }),
                    Route("open", "/open", new CorsFilter { AllowOrigins = ["*"], AllowMethods = ["*"], AllowHeaders = ["*"], ExposeHeaders = ["*"] }),
                    Route("plain", "/plain", cors: null),
                ],
                Policies = new()
                {
                    Authentication =
                    [
                        new()
                        {
                            Name = "edge-jwt", TargetRef = new() { Kind = "Gateway", Name = "edge" }, Type = "Jwt",
                            Jwt = new() { Issuer = "https://issuer.test", Audiences = ["aspiremesh"], Keys = [new() { Kid = "rsa-1", Kty = "RSA", Alg = "RS256", N = jwk["n"], E = jwk["e"] }] },
                        },
                    ],
                },
            };
            Gateway = await GatewayProcess.StartAsync(config);
            using var probe = new HttpClient { BaseAddress = Gateway.Url };
            probe.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            await Gateway.RegisterAsync("api", Api, "/plain/ready", probe);
        }

        public async ValueTask DisposeAsync()
        {
            await Gateway.DisposeAsync();
            await Api.DisposeAsync();
            await Page.DisposeAsync();
            Rsa.Dispose();
        }

        private static HttpRouteConfig Route(string name, string prefix, CorsFilter? cors) => new()
        {
            Name = name,
            ParentRefs = [new() { Name = "edge" }],
            Rules =
            [
                new()
                {
                    Matches = [new() { Path = new() { Type = "PathPrefix", Value = prefix } }],
                    Filters = cors is null ? [] : [new() { Type = FilterTypes.Cors, Cors = cors }],
                    BackendRefs = [new() { Name = "api" }],
                },
            ],
        };
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? origin, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method, new Uri(mesh.Gateway.Url, path));
        if (origin is not null)
        {
            request.Headers.TryAddWithoutValidation("Origin", origin);
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await mesh.Gateway.Client.SendAsync(request, Cancel);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values) ? string.Join(", ", values) : null;

    [Fact]
    public async Task Preflight_AllowedOrigin_AnsweredByTheGatewayBeforeAuthentication_NeverReachesTheApp()
    {
        using var response = await SendAsync(HttpMethod.Options, "/spa/orders", "https://app.example",
            ("Access-Control-Request-Method", "PUT"), ("Access-Control-Request-Headers", "x-trace, authorization"));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("https://app.example", Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal("true", Header(response, "Access-Control-Allow-Credentials"));
        Assert.Equal("PUT, DELETE", Header(response, "Access-Control-Allow-Methods"));
        Assert.Equal("x-trace, authorization", Header(response, "Access-Control-Allow-Headers"));
        Assert.Equal("600", Header(response, "Access-Control-Max-Age"));
        Assert.Contains("Origin", Header(response, "Vary"), StringComparison.Ordinal);
        Assert.DoesNotContain(mesh.Reached, r => r.StartsWith("OPTIONS", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("https://a.b.shop.example", true)]
    [InlineData("https://shop.example", false)]
    [InlineData("http://app.example", false)]
    [InlineData("https://app.example:8443", false)]
    [InlineData("https://APP.example:443", true)]
    [InlineData("null", false)]
    public async Task Preflight_OriginsMatchedAsTheFilterSays_OthersGetNoCorsHeaders(string origin, bool allowed)
    {
        using var response = await SendAsync(HttpMethod.Options, "/spa/orders", origin, ("Access-Control-Request-Method", "DELETE"));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(allowed ? origin : null, Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal(allowed ? "PUT, DELETE" : null, Header(response, "Access-Control-Allow-Methods"));
    }

    [Fact]
    public async Task ActualRequest_AllowedOrigin_TheRoutesCorsHeadersReplaceTheApps()
    {
        using var response = await SendAsync(HttpMethod.Get, "/spa/orders", "https://app.example", ("Authorization", $"Bearer {mesh.Token}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("https://app.example", Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal("true", Header(response, "Access-Control-Allow-Credentials"));
        Assert.Equal("x-backend", Header(response, "Access-Control-Expose-Headers"));
        Assert.Contains("Origin", Header(response, "Vary"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ActualRequest_OriginNotAllowed_NoCorsHeaders_NotEvenTheApps_AndStillAuthenticated()
    {
        using (var response = await SendAsync(HttpMethod.Get, "/spa/orders", "https://evil.example", ("Authorization", $"Bearer {mesh.Token}")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Null(Header(response, "Access-Control-Allow-Origin"));
            Assert.Null(Header(response, "Access-Control-Allow-Credentials"));
        }

        // The filter answers preflights, not the actual requests: those still need their token.
        using var unauthenticated = await SendAsync(HttpMethod.Get, "/spa/orders", "https://app.example");
        Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
    }

    [Fact]
    public async Task AnyOrigin_WildcardsAnswered_ButACredentialedRequestGetsItsOwnOrigin()
    {
        using (var preflight = await SendAsync(HttpMethod.Options, "/open/x", "https://any.example", ("Access-Control-Request-Method", "PATCH"), ("Access-Control-Request-Headers", "x-a")))
        {
            Assert.Equal(("*", "*", "*", "5"), (Header(preflight, "Access-Control-Allow-Origin"), Header(preflight, "Access-Control-Allow-Methods"),
                Header(preflight, "Access-Control-Allow-Headers"), Header(preflight, "Access-Control-Max-Age")));
        }

        using (var anonymous = await SendAsync(HttpMethod.Get, "/open/x", "https://any.example", ("Authorization", $"Bearer {mesh.Token}")))
        {
            // Authorization makes the request credentialed: no wildcard may answer it, and "*" exposes nothing then,
            // so the response's own header names are listed.
            Assert.Equal("https://any.example", Header(anonymous, "Access-Control-Allow-Origin"));
            Assert.Contains("x-backend", Header(anonymous, "Access-Control-Expose-Headers"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task RouteWithoutTheFilter_PreflightGoesToTheApp_AndItsHeadersPass()
    {
        using var response = await SendAsync(HttpMethod.Get, "/plain/x", "https://app.example", ("Authorization", $"Bearer {mesh.Token}"));

        Assert.Equal("https://evil.example", Header(response, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Browser_PageOfAnotherOrigin_CallsTheRouteWithTheFilter_NotTheOneWithout()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run does).");

        // A PUT with an Authorization header: the browser sends a preflight first, then the request with credentials.
        var allowed = await BrowserFetchAsync("/spa/browser");
        Assert.Equal("fetch: ok 200 exposed=api-app", allowed);
        Assert.Contains("PUT /spa/browser", mesh.Reached);

        // The app's own answer names another origin: the browser refuses to let the page read it.
        var refused = await BrowserFetchAsync("/plain/browser");
        Assert.StartsWith("fetch: failed TypeError", refused, StringComparison.Ordinal);
    }

    private async Task<string> BrowserFetchAsync(string path)
    {
        await using var fetch = await Interop.StartNodeAsync(typeof(CorsTests).Assembly, "cors-fetch", "cors/fetch.js",
            ["--page", mesh.Page.Url.ToString(), "--url", new Uri(mesh.Gateway.Url, path).ToString(), "--method", "PUT", "--header", "x-trace: 1",
             "--header", $"authorization: Bearer {mesh.Token}", "--credentials", "include", "--expose", "x-backend", "--chromium", Chromium]);
        var exit = await fetch.Exited.WaitAsync(TimeSpan.FromMinutes(2), Cancel);
        Assert.True(exit == 0, $"the browser check failed (exit {exit}):{Environment.NewLine}{fetch.Output}{Environment.NewLine}{fetch.ErrorOutput}");
        return fetch.Output.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith("fetch: ", StringComparison.Ordinal));
    }
}
