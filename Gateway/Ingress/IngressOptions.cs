namespace AspireMesh.Gateway.Ingress;

/// <summary>What the gateway's public listener accepts from clients, set by its command line.</summary>
internal sealed record IngressOptions
{
    /// <summary>Default <see cref="MaxHeaderBytes"/>: 32 KiB, Kestrel's own default.</summary>
    public const int DefaultMaxHeaderBytes = 32 * 1024;

    /// <summary>Default <see cref="MaxUrlLength"/>: 8 KiB.</summary>
    public const int DefaultMaxUrlLength = 8 * 1024;

    /// <summary>Default <see cref="MaxBodyBytes"/>: 30 MB, Kestrel's own default.</summary>
    public const long DefaultMaxBodyBytes = 30_000_000;

    /// <summary>Largest total of request header names and values (each line counted as sent: name, ": ", value, CRLF); more is 431.</summary>
    public int MaxHeaderBytes { get; init; } = DefaultMaxHeaderBytes;

    /// <summary>Longest request target (path and query, as sent); longer is 414.</summary>
    public int MaxUrlLength { get; init; } = DefaultMaxUrlLength;

    /// <summary>Largest request body; null for no limit. A larger declared Content-Length is 413 before forwarding.</summary>
    public long? MaxBodyBytes { get; init; } = DefaultMaxBodyBytes;

    /// <summary>Whether <c>%2F</c> and <c>%5C</c> (encoded slash and backslash) may appear in paths; refused by default.</summary>
    public bool AllowEncodedSlashes { get; init; }

    /// <summary>Request headers removed from every client request besides the built-in identity headers.</summary>
    public IReadOnlyList<string> StripHeaders { get; init; } = [];

    /// <summary>The HTTPS port plain-HTTP requests are redirected to (308), or null to serve plain HTTP.</summary>
    public int? RedirectToHttpsPort { get; init; }

    /// <summary>
    /// The limits Kestrel itself enforces, above the gateway's: requests between the two get the gateway's mesh error
    /// with its reason; requests beyond Kestrel's are refused by Kestrel with the same status and an empty body, before
    /// any of them is buffered.
    /// </summary>
    public static int Backstop(int limit) => Math.Max(limit * 2, limit + (16 * 1024));
}
