using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Tests;

/// <summary>
/// Routes' CORS filters at a real gateway, one route needing a JWT: preflights answered by the gateway itself (before
/// authentication, never reaching the app), actual responses carrying the route's CORS headers in place of the
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
                if (context.Request.Path.Value!.Contains("vary", StringComparison.Ordinal))
                {
                    context.Response.Headers.Vary = "Accept-Encoding, origin";
                }

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
                            Name = "spa-jwt", TargetRef = new() { Kind = "Route", Name = "spa" }, Type = "Jwt",
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
    public async Task Preflight_AllowedOrigin_AnsweredByTheGatewayBeforeAuthentication()
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
    }

    [Fact]
    public async Task Preflight_OnARouteWithoutAuthentication_NeverReachesTheApp()
    {
        using var response = await SendAsync(HttpMethod.Options, "/open/preflight", "https://any.example", ("Access-Control-Request-Method", "PATCH"));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("*", Header(response, "Access-Control-Allow-Origin"));
        Assert.DoesNotContain("OPTIONS /open/preflight", mesh.Reached);
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
    public async Task AnyOrigin_WildcardsAnswered_WhatWasAskedEchoed()
    {
        using (var preflight = await SendAsync(HttpMethod.Options, "/open/x", "https://any.example", ("Access-Control-Request-Method", "PATCH"), ("Access-Control-Request-Headers", "x-a, authorization")))
        {
            // Browsers never take "*" for Authorization: the headers asked for are answered by name.
            Assert.Equal(("*", "PATCH", "x-a, authorization", "5"), (Header(preflight, "Access-Control-Allow-Origin"), Header(preflight, "Access-Control-Allow-Methods"),
                Header(preflight, "Access-Control-Allow-Headers"), Header(preflight, "Access-Control-Max-Age")));
        }

        using var actual = await SendAsync(HttpMethod.Get, "/open/x", "null");
        Assert.Equal(("*", "*"), (Header(actual, "Access-Control-Allow-Origin"), Header(actual, "Access-Control-Expose-Headers")));
    }

    [Fact]
    public async Task RequestWithoutOrigin_OnARouteWithTheFilter_TheAppsCorsHeadersRemoved_AndItVariesByOrigin()
    {
        // Else a cache could keep this answer, with the app's own CORS headers, and give it to a page of any origin.
        using var response = await SendAsync(HttpMethod.Get, "/open/no-origin", origin: null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal("Origin", Header(response, "Vary"));
    }

    [Fact]
    public async Task AppsVaryAlreadyNamingOrigin_NotRepeated()
    {
        using var response = await SendAsync(HttpMethod.Get, "/open/vary", "https://any.example");

        Assert.Equal(["Accept-Encoding, origin"], response.Headers.Vary.Count == 0 ? [] : [string.Join(", ", response.Headers.Vary)]);
    }

    [Fact]
    public async Task ErrorTheGatewayProduced_ReadableByAnAllowedPage_WithItsMeshError()
    {
        using var response = await SendAsync(HttpMethod.Get, "/spa/orders", "https://app.example");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("https://app.example", Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal("unauthenticated", Header(response, "x-mesh-error"));
        Assert.Equal("x-backend, x-mesh-error", Header(response, "Access-Control-Expose-Headers"));
    }

    [Fact]
    public async Task RouteWithoutTheFilter_TheAppAnswersPreflights_AndItsHeadersPass()
    {
        using var response = await SendAsync(HttpMethod.Options, "/plain/preflight", "https://app.example", ("Access-Control-Request-Method", "PUT"));

        Assert.Contains("OPTIONS /plain/preflight", mesh.Reached);
        Assert.Equal("https://evil.example", Header(response, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Browser_PageOfAnotherOrigin_ReadsWhatTheRoutesFilterAllows_NotWhatTheAppAlone()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium; .ci/run does).");

        // A PUT with an Authorization header: the browser sends a preflight first, then the request with credentials.
        var allowed = await BrowserFetchAsync("/spa/browser", "PUT", "include", "x-trace: 1", $"authorization: Bearer {mesh.Token}");
        Assert.Equal("fetch: ok 200 exposed=api-app", allowed);
        Assert.Contains("PUT /spa/browser", mesh.Reached);

        // The same simple GET (no preflight): allowed by the route's filter, refused where only the app answers, as
        // the app names another origin.
        Assert.Equal("fetch: ok 200 exposed=api-app", await BrowserFetchAsync("/open/browser", "GET", "omit"));
        Assert.StartsWith("fetch: failed TypeError", await BrowserFetchAsync("/plain/browser", "GET", "omit"), StringComparison.Ordinal);
        Assert.Contains("GET /plain/browser", mesh.Reached);
    }

    private async Task<string> BrowserFetchAsync(string path, string method, string credentials, params string[] headers)
    {
        await using var fetch = await Interop.StartNodeAsync(typeof(CorsTests).Assembly, "cors-fetch", "cors/fetch.js",
            ["--page", mesh.Page.Url.ToString(), "--url", new Uri(mesh.Gateway.Url, path).ToString(), "--method", method, .. headers.SelectMany(h => new[] { "--header", h }),
             "--credentials", credentials, "--expose", "x-backend", "--chromium", Chromium]);
        var exit = await fetch.Exited.WaitAsync(TimeSpan.FromMinutes(2), Cancel);
        Assert.True(exit == 0, $"the browser check failed (exit {exit}):{Environment.NewLine}{fetch.Output}{Environment.NewLine}{fetch.ErrorOutput}");
        return fetch.Output.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith("fetch: ", StringComparison.Ordinal));
    }
}
