using System.Globalization;
using System.Text;
using AspireMesh.Contracts;
using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.Config;
using AspireMesh.ControlPlane.Proxies;
using AspireMesh.ControlPlane.Security;
using AspireMesh.ControlPlane.State;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// The config API: read (JSON or YAML), write with validation and optimistic concurrency (If-Match), history,
/// rollback, and plan (a dry run). Writes need the admin token and are rate limited.
/// </summary>
internal static class ConfigApi
{
    public const string WritePolicy = "config-writes";

    public static IEndpointRouteBuilder MapConfigApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/config", (HttpContext context, ConfigStore store) =>
        {
            var current = store.Current;
            var config = current?.Config ?? new MeshConfig();
            context.Response.Headers.ETag = ETag(current?.Version ?? 0);
            var yaml = context.Request.Headers.Accept.ToString().Contains("yaml", StringComparison.OrdinalIgnoreCase);
            return Results.Text(MeshConfigParser.Write(config, yaml ? ConfigFormat.Yaml : ConfigFormat.Json), yaml ? "application/yaml" : "application/json", Encoding.UTF8);
        });

        endpoints.MapGet("/v1/config/versions", (ConfigStore store) =>
        {
            var history = store.History;
            var current = history.Count == 0 ? 0 : history[^1].Version;
            return Results.Json(new ConfigVersionList([.. history.Reverse().Select(v => new ConfigVersionInfo(v.Version, v.AcceptedAt, v.Source,
                v.Config.Services.Count, v.Config.Routes.Count,
                v.Config.Policies.Backends.Count + v.Config.Policies.RateLimits.Count + v.Config.Policies.Authorization.Count + v.Config.Policies.Egress.Count,
                v.Version == current))]), MeshJsonContext.Default.ConfigVersionList);
        });

        endpoints.MapGet("/v1/config/versions/{version:long}", (long version, ConfigStore store) =>
            store.History.FirstOrDefault(v => v.Version == version) is { } found
                ? Results.Text(MeshConfigParser.Write(found.Config, ConfigFormat.Json), "application/json", Encoding.UTF8)
                : Problems.NotFound($"config version {version} is not kept; GET /v1/config/versions lists those that are."));

        endpoints.MapPut("/v1/config", async (HttpContext context, ConfigStore store, IOptions<ControlPlaneOptions> options, ILogger<ConfigStore> logger) =>
        {
            var (config, refusal) = await ReadConfigAsync(context, options.Value.MaxConfigBytes, logger).ConfigureAwait(false);
            if (refusal is not null)
            {
                return refusal;
            }

            if (!TryIfMatch(context, out var expected, out var badHeader))
            {
                return badHeader!;
            }

            return Written(context, store.Apply(config!, "api", expected), expected);
        }).RequireAdminToken().RequireRateLimiting(WritePolicy);

        endpoints.MapPost("/v1/config/rollback", async (HttpContext context, ConfigStore store) =>
        {
            if (!TryIfMatch(context, out var expected, out var badHeader))
            {
                return badHeader!;
            }

            var request = await StrictBody.ReadAsync(context, MeshJsonContext.Default.RollbackRequest).ConfigureAwait(false);

            var outcome = store.Rollback(request.Version, expected);
            return outcome.Status == ConfigWriteStatus.NotFound
                ? Problems.NotFound($"config version {request.Version} is not kept; kept versions: {string.Join(", ", store.History.Select(v => v.Version))}.")
                : Written(context, outcome, expected);
        }).RequireAdminToken().RequireRateLimiting(WritePolicy);

        endpoints.MapPost("/v1/config/plan", async (HttpContext context, MeshStateStore state, ProxyRegistry proxies, IOptions<ControlPlaneOptions> options, ILogger<ConfigStore> logger) =>
        {
            var (config, refusal) = await ReadConfigAsync(context, options.Value.MaxConfigBytes, logger).ConfigureAwait(false);
            if (refusal is not null)
            {
                return refusal;
            }

            var current = state.Current;
            return Results.Json(ConfigPlanner.Plan(current, config!, proxies.List(current.Version)), MeshJsonContext.Default.ConfigPlan);
        }).RequireAdminToken().RequireRateLimiting(WritePolicy);

        return endpoints;
    }

    private static IResult Written(HttpContext context, ConfigWriteOutcome outcome, long? expected)
    {
        var current = outcome.Current!;
        if (outcome.Status == ConfigWriteStatus.Conflict)
        {
            return Problems.Conflict($"the config changed since version {expected}: the current version is {current?.Version ?? 0}. GET /v1/config, reapply your change and PUT it with If-Match: \"{current?.Version ?? 0}\".");
        }

        context.Response.Headers.ETag = ETag(current.Version);
        return Results.Json(new ConfigWriteResult(current.Version, current.AcceptedAt, outcome.Status == ConfigWriteStatus.Unchanged), MeshJsonContext.Default.ConfigWriteResult);
    }

    /// <summary>Reads and validates the body: 413 over the limit, 400 when it cannot be parsed, 422 when it is not a valid config.</summary>
    private static async Task<(MeshConfig? Config, IResult? Refusal)> ReadConfigAsync(HttpContext context, int limit, ILogger logger)
    {
        if (context.Request.ContentLength > limit)
        {
            return (null, Problems.TooLarge(limit));
        }

        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return (null, Problems.TooLarge(limit));
            }

            buffer.Write(chunk, 0, read);
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            return (null, Problems.Invalid("The config is not UTF-8 text.", [new ConfigError("$", "the body is not valid UTF-8.")]));
        }

        var result = MeshConfigParser.Parse(text, MeshConfigParser.DetectFormat(text, context.Request.ContentType));
        if (result.IsValid)
        {
            return (result.Config, null);
        }

        ControlPlaneLog.ConfigRefused(logger, "api", string.Join("; ", result.Errors));
        // A document that parsed but broke the rules is unprocessable (422); one that did not parse is a bad request (400).
        var parsed = result.Errors.All(e => e.Path != "$" && !e.Message.StartsWith("unknown field", StringComparison.Ordinal) && !e.Message.StartsWith("expected ", StringComparison.Ordinal)
            && !e.Message.StartsWith("must not be null", StringComparison.Ordinal));
        return (null, parsed
            ? Problems.Invalid($"The config has {result.Errors.Count} error(s); nothing was applied.", result.Errors, StatusCodes.Status422UnprocessableEntity)
            : Problems.Invalid("The config could not be read; nothing was applied.", result.Errors));
    }

    private static bool TryIfMatch(HttpContext context, out long? expected, out IResult? error)
    {
        expected = null;
        error = null;
        var header = context.Request.Headers.IfMatch.ToString();
        if (header.Length == 0)
        {
            return true;
        }

        if (EntityTagHeaderValue.TryParse(header, out var tag) && long.TryParse(tag.Tag.ToString().Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            expected = version;
            return true;
        }

        error = Problems.Invalid("Bad If-Match header.", [new ConfigError("If-Match", $"'{header}' is not a config version such as \"12\".")]);
        return false;
    }

    private static string ETag(long version) => $"\"{version}\"";
}
