using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace AspireMesh.ControlPlane.Api;

/// <summary>
/// The Eureka and Consul APIs' JSON, which follows other servers' wire shapes rather than the mesh's contracts: bodies
/// read as documents (clients' quirks are handled by hand) and answers written member by member.
/// </summary>
internal static class RawJson
{
    /// <summary>A registration is a few KB; Kestrel answers 413 past this.</summary>
    public const int MaxBodyBytes = 256 * 1024;

    /// <summary>Reads the body as a JSON document, of at most <see cref="MaxBodyBytes"/>; throws <see cref="JsonException"/> when it is not JSON.</summary>
    public static async Task<JsonDocument> ReadAsync(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        return await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The UTF-8 JSON <paramref name="write"/> writes (non-ASCII text as is, not escaped).</summary>
    public static byte[] Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A member's value by name in any case, as the Consul agent matches them; null when absent or null.</summary>
    public static JsonElement? Member(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var member in obj.EnumerateObject())
        {
            if (string.Equals(member.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return member.Value.ValueKind == JsonValueKind.Null ? null : member.Value;
            }
        }

        return null;
    }

    /// <summary>An http(s) URL of a host (an IPv6 address in brackets) and port, without a path.</summary>
    public static string Url(string scheme, string host, int port) => new UriBuilder(scheme, host, port).Uri.GetLeftPart(UriPartial.Authority);
}
