using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace AspireMesh.ControlPlane.Dashboard;

/// <summary>
/// The mesh dashboard: static HTML, CSS and JavaScript embedded in this assembly (nothing from the internet), served
/// under <c>/dashboard/</c>. The page polls the JSON API every two seconds and streams <c>/v1/tap</c>.
/// </summary>
internal static class DashboardPage
{
    private const string Prefix = "AspireMesh.ControlPlane.Dashboard.Assets.";

    // Only what this page loads itself, so injected markup could neither run script nor reach another origin.
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly FrozenDictionary<string, Asset> Assets = Load();

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/", () => Results.Redirect("/dashboard/"));
        // Routing ignores a trailing slash, but the page's relative links need it: /dashboard is sent to /dashboard/.
        endpoints.MapMethods("/dashboard/{file?}", [HttpMethods.Get, HttpMethods.Head], (HttpContext context, string? file) =>
            file is null && !context.Request.Path.Value!.EndsWith('/')
                ? Results.Redirect("/dashboard/")
                : Serve(context, file ?? "index.html"));
        return endpoints;
    }

    private static IResult Serve(HttpContext context, string file)
    {
        if (!Assets.TryGetValue(file, out var asset))
        {
            return Api.Problems.NotFound($"the dashboard has no file '{file}'.");
        }

        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        // Revalidate every time: the files are small, and a control plane upgrade must never leave a stale script behind.
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers["Referrer-Policy"] = "no-referrer";
        var ifNoneMatch = context.Request.Headers.IfNoneMatch.ToString();
        if (ifNoneMatch.Length > 0 && EntityTagHeaderValue.TryParseList([ifNoneMatch], out var tags)
            && tags.Any(t => t.Tag.Equals(asset.ETag, StringComparison.Ordinal) || t.Equals(EntityTagHeaderValue.Any)))
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(DashboardPage).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var content = buffer.ToArray();
            var name = resource[Prefix.Length..];
            var contentType = Path.GetExtension(name) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            assets[name] = new Asset(content, contentType, $"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..16]}\"");
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed record Asset(byte[] Content, string ContentType, string ETag);
}
