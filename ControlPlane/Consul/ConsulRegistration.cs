using System.Globalization;
using System.Text.Json;
using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.Api;

namespace AspireMesh.ControlPlane.Consul;

/// <summary>
/// A service instance a Consul client (Steeltoe.Discovery.Consul, node-consul) registered with the agent API, and the
/// state of its one check. It joins the mesh's registry as an instance of service <see cref="Name"/>, healthy while its
/// check passes and it is not in maintenance.
/// </summary>
internal sealed record ConsulRegistration(string Id, string Name, string Address, int Port)
{
    public const string Passing = "passing";
    public const string Warning = "warning";
    public const string Critical = "critical";

    public IReadOnlyList<string> Tags { get; init; } = [];

    public IReadOnlyDictionary<string, string> Meta { get; init; } = new Dictionary<string, string>();

    /// <summary>The TTL of its check: without a pass for this long, the check turns critical. Null: no TTL check.</summary>
    public TimeSpan? Ttl { get; init; }

    /// <summary>What the control plane calls for its check (an HTTP or TCP check); null: a TTL check, or none (always passing).</summary>
    public ConsulProbe? Probe { get; init; }

    /// <summary>When its probe is due next.</summary>
    public DateTimeOffset NextProbeAt { get; init; } = DateTimeOffset.MaxValue;

    /// <summary>The check's type, as the agent lists it.</summary>
    public string CheckType => Probe?.Kind ?? (Ttl is null ? "" : "ttl");

    /// <summary>How long its check may stay critical before the instance is deregistered; null: never.</summary>
    public TimeSpan? DeregisterCriticalAfter { get; init; }

    public string CheckName { get; init; } = "";

    public string CheckStatus { get; init; } = Passing;

    public string CheckOutput { get; init; } = "";

    /// <summary>When the TTL runs out without another pass.</summary>
    public DateTimeOffset TtlDeadline { get; init; } = DateTimeOffset.MaxValue;

    /// <summary>When its check turned critical, if it is.</summary>
    public DateTimeOffset? CriticalSince { get; init; }

    /// <summary>Why it is in maintenance (<c>PUT /v1/agent/service/maintenance/{id}?enable=true</c>), if it is.</summary>
    public string? Maintenance { get; init; }

    /// <summary>Consul's id of the service's check.</summary>
    public string CheckId => $"service:{Id}";

    /// <summary>Only a passing check, out of maintenance, takes traffic (Consul's <c>?passing</c>).</summary>
    public bool Healthy => CheckStatus == Passing && Maintenance is null;

    /// <summary>Where the mesh reaches it: https when its metadata says <c>secure=true</c> (Steeltoe's convention).</summary>
    public string Url => RawJson.Url(Meta.TryGetValue("secure", out var secure) && secure == "true" ? Uri.UriSchemeHttps : Uri.UriSchemeHttp, Address, Port);

    /// <summary>When the registry may forget it: a while after its check turned critical, when it asked for that.</summary>
    public DateTimeOffset ExpiresAt => CriticalSince is { } since && DeregisterCriticalAfter is { } after ? since + after : DateTimeOffset.MaxValue;

    /// <summary>Why the mesh does not route to it, when it does not.</summary>
    public string? Reason => Maintenance is { } why
        ? $"in Consul maintenance mode{(why.Length > 0 ? $": {why}" : "")}"
        : CheckStatus == Passing ? null : $"its Consul check is {CheckStatus}{(CheckOutput.Length > 0 ? $": {CheckOutput}" : "")}";

    /// <summary>
    /// Reads <c>PUT /v1/agent/service/register</c> as the agent does: member names in any case, <c>ID</c> defaulting to
    /// <c>Name</c>, one check (<c>Check</c>, or <c>Checks</c> with one entry) that is a TTL, HTTP or TCP check, or none; a
    /// check's first status is critical unless it says otherwise, as Consul's.
    /// </summary>
    /// <param name="body">The service definition.</param>
    /// <param name="now">The time of registration.</param>
    /// <param name="fromThisMachine">Whether the registration came from the control plane's machine (loopback, while <see cref="ControlPlaneOptions.OpenOnLoopback"/>): only then may a check call a local address.</param>
    public static ConsulRegistration Parse(JsonElement body, DateTimeOffset now, bool fromThisMachine)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new ConsulException("The body is not a service definition object.");
        }

        var name = Text(body, "Name");
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new ConsulException("Missing service name");
        }

        if (!MeshConfigValidator.IsDnsLabel(name))
        {
            throw new ConsulException($"Service name {name} cannot name a mesh service: use lower-case letters, digits or '-', starting with a letter.");
        }

        var id = Text(body, "ID") ?? name;
        if (id.Length > 253 || id.Contains('/', StringComparison.Ordinal))
        {
            throw new ConsulException($"Service ID {id} is not usable: at most 253 characters, no '/'.");
        }

        var address = Text(body, "Address");
        if (string.IsNullOrWhiteSpace(address))
        {
            throw new ConsulException("Missing service address: the mesh reaches the instance at Address:Port (there is no agent node address to fall back to).");
        }

        var port = Member(body, "Port") is { ValueKind: JsonValueKind.Number } p && p.TryGetInt32(out var n) ? n : 0;
        if (port is <= 0 or > 65535)
        {
            throw new ConsulException($"Service port {port} is not a TCP port (1-65535).");
        }

        var registration = new ConsulRegistration(id, name, address, port)
        {
            Tags = Member(body, "Tags") is { ValueKind: JsonValueKind.Array } tags ? [.. tags.EnumerateArray().Select(t => t.GetString()).OfType<string>()] : [],
            Meta = Member(body, "Meta") is { ValueKind: JsonValueKind.Object } meta
                ? meta.EnumerateObject().Where(m => m.Value.ValueKind == JsonValueKind.String).ToDictionary(m => m.Name, m => m.Value.GetString()!, StringComparer.Ordinal)
                : new Dictionary<string, string>(StringComparer.Ordinal),
        };
        var check = Member(body, "Check") is { ValueKind: JsonValueKind.Object } single ? single : default;
        if (Member(body, "Checks") is { ValueKind: JsonValueKind.Array } checks && checks.GetArrayLength() > 0)
        {
            if (check.ValueKind != JsonValueKind.Undefined || checks.GetArrayLength() > 1)
            {
                throw new ConsulException("Only one check per service is supported (Check, or Checks with one entry).");
            }

            check = checks[0];
        }

        if (check.ValueKind != JsonValueKind.Object)
        {
            return registration;
        }

        var deregister = Text(check, "DeregisterCriticalServiceAfter") is { } after ? GoDuration.Parse(after, "Check.DeregisterCriticalServiceAfter") : (TimeSpan?)null;
        var status = Text(check, "Status")?.ToLowerInvariant() ?? Critical;
        if (status is not (Passing or Warning or Critical))
        {
            throw new ConsulException($"Check.Status {status} is not passing, warning or critical.");
        }

        registration = registration with
        {
            DeregisterCriticalAfter = deregister,
            CheckName = Text(check, "Name") ?? $"Service '{name}' check",
            CheckStatus = status,
            CriticalSince = status == Critical ? now : null,
        };
        if (Text(check, "TTL") is { } ttlText)
        {
            var ttl = GoDuration.Parse(ttlText, "Check.TTL");
            return registration with
            {
                Ttl = ttl,
                CheckOutput = status == Critical ? "TTL check not yet passed" : "",
                TtlDeadline = status == Critical ? DateTimeOffset.MaxValue : now + ttl,
            };
        }

        if (ConsulProbe.Parse(check, address, fromThisMachine) is { } probe)
        {
            // Probed at once, then every interval.
            return registration with { Probe = probe, CheckOutput = status == Critical ? $"{probe.Kind.ToUpperInvariant()} check not yet run" : "", NextProbeAt = now };
        }

        var kind = new[] { "GRPC", "UDP", "H2Ping", "Args", "AliasService", "AliasNode" }.FirstOrDefault(k => Member(check, k) is not null) ?? "this";
        throw new ConsulException($"Only TTL, HTTP and TCP checks are supported; a {kind} check is not.");
    }

    /// <summary>The check's new state after a pass, warn, fail or update: a TTL renewal unless it is critical.</summary>
    public ConsulRegistration WithCheck(string status, string output, DateTimeOffset now) => this with
    {
        CheckStatus = status,
        CheckOutput = output,
        TtlDeadline = Ttl is { } ttl ? now + ttl : DateTimeOffset.MaxValue,
        CriticalSince = status == Critical ? CriticalSince ?? now : null,
    };

    // The agent matches member names case-insensitively (clients send ID, Id or id).
    internal static JsonElement? Member(JsonElement obj, string name) => RawJson.Member(obj, name);

    internal static string? Text(JsonElement obj, string name) => Member(obj, name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;
}

/// <summary>
/// An HTTP or TCP check: the control plane calls <see cref="Target"/> every <see cref="Interval"/>, as the Consul agent
/// does. An HTTP check passes on a 2xx answer, warns on 429 and is critical otherwise (or when no answer comes within
/// <see cref="Timeout"/>); a TCP check passes when a connection opens. Only the instance's own address is called, so that
/// registering cannot point the control plane at another host.
/// </summary>
internal sealed record ConsulProbe(string Kind, string Target, TimeSpan Interval, TimeSpan Timeout)
{
    public const string Http = "http";
    public const string Tcp = "tcp";

    /// <summary>Consul's shortest interval: a shorter one is raised to it.</summary>
    public static readonly TimeSpan MinimumInterval = TimeSpan.FromSeconds(1);

    public string Method { get; init; } = "GET";

    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    /// <summary>Whether an https target's certificate goes unchecked (Consul's <c>TLSSkipVerify</c>).</summary>
    public bool TlsSkipVerify { get; init; }

    /// <summary>The request's body (Consul's <c>Body</c>); null: none.</summary>
    public string? Body { get; init; }

    /// <summary>
    /// Whether a redirect is followed (Consul's default; <c>DisableRedirects</c> turns it off): only within the instance's
    /// own scheme, host and port, so that a check never leads the control plane to another address.
    /// </summary>
    public bool FollowRedirects { get; init; } = true;

    /// <summary>The name an https target is asked for and checked against (SNI; Consul's <c>TLSServerName</c>); null: the URL's host.</summary>
    public string? TlsServerName { get; init; }

    /// <summary>
    /// Whether it may call a loopback, link-local or unspecified address: only when registered from the control plane's
    /// own machine. Otherwise a registration (with any service's token) could have the control plane call itself from
    /// loopback, where its admin API is open, or a cloud's metadata service; the prober checks the address it connects
    /// to, after name resolution.
    /// </summary>
    public bool MayCallLocal { get; init; }

    /// <summary>The longest interval and timeout taken (longer ones are refused).</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromHours(24);

    /// <summary>Whether two definitions ask for the same probe (a re-registration keeps the state of an unchanged check).</summary>
    public bool SameAs(ConsulProbe other) =>
        Kind == other.Kind && Target == other.Target && Interval == other.Interval && Timeout == other.Timeout && Method == other.Method
        && TlsSkipVerify == other.TlsSkipVerify && MayCallLocal == other.MayCallLocal && Headers.SequenceEqual(other.Headers)
        && Body == other.Body && FollowRedirects == other.FollowRedirects && TlsServerName == other.TlsServerName;

    /// <summary>An address a probe registered from elsewhere may not call: loopback, link-local, unspecified or "this network".</summary>
    public static bool IsLocal(System.Net.IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return System.Net.IPAddress.IsLoopback(address) || address.Equals(System.Net.IPAddress.Any) || address.Equals(System.Net.IPAddress.IPv6Any) || address.IsIPv6LinkLocal
            || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && address.GetAddressBytes() is [169, 254, _, _] or [0, _, _, _]);
    }

    /// <summary>The probe a check definition asks for; null when it has neither <c>HTTP</c> nor <c>TCP</c>.</summary>
    public static ConsulProbe? Parse(JsonElement check, string address, bool fromThisMachine)
    {
        var http = ConsulRegistration.Text(check, "HTTP");
        var tcp = ConsulRegistration.Text(check, "TCP");
        if (http is null && tcp is null)
        {
            return null;
        }

        var kind = http is not null ? Http : Tcp;
        var what = http is not null ? "Check.HTTP" : "Check.TCP";
        var interval = ConsulRegistration.Text(check, "Interval") is { } intervalText
            ? GoDuration.Parse(intervalText, "Check.Interval")
            : throw new ConsulException($"Check.Interval is required for {(kind == Http ? "an HTTP" : "a TCP")} check.");
        var timeout = ConsulRegistration.Text(check, "Timeout") is { } timeoutText ? GoDuration.Parse(timeoutText, "Check.Timeout") : TimeSpan.FromSeconds(10);
        if (interval > Longest || timeout > Longest)
        {
            throw new ConsulException($"Check.{(interval > Longest ? "Interval" : "Timeout")} is longer than {Longest.TotalHours:0} hours.");
        }

        Uri target;
        if (http is not null)
        {
            if (!Uri.TryCreate(http, UriKind.Absolute, out target!) || target.Scheme is not ("http" or "https"))
            {
                throw new ConsulException($"{what} '{http}' is not an http:// or https:// URL.");
            }
        }
        else if (!Uri.TryCreate($"tcp://{tcp}", UriKind.Absolute, out target!) || target.IsDefaultPort || target.AbsolutePath != "/")
        {
            throw new ConsulException($"{what} '{tcp}' is not host:port.");
        }

        var targetHost = target.IdnHost.Trim('[', ']');
        var sameHost = System.Net.IPAddress.TryParse(targetHost, out var targetIp) && System.Net.IPAddress.TryParse(address.Trim('[', ']'), out var addressIp)
            ? targetIp.Equals(addressIp)
            : string.Equals(targetHost, address.Trim('[', ']'), StringComparison.OrdinalIgnoreCase);
        if (!sameHost)
        {
            throw new ConsulException($"{what} '{http ?? tcp}' calls host '{target.IdnHost}', not the instance's Address '{address}': the control plane probes only the instance itself.");
        }

        var method = ConsulRegistration.Text(check, "Method") is { Length: > 0 } m ? m.ToUpperInvariant() : "GET";
        if (!method.All(char.IsAsciiLetterUpper))
        {
            throw new ConsulException($"Check.Method '{method}' is not an HTTP method.");
        }

        var headers = new List<KeyValuePair<string, string>>();
        if (ConsulRegistration.Member(check, "Header") is { ValueKind: JsonValueKind.Object } header)
        {
            foreach (var field in header.EnumerateObject())
            {
                var values = field.Value.ValueKind == JsonValueKind.Array ? field.Value.EnumerateArray() : throw new ConsulException($"Check.Header.{field.Name} is not a list of strings.");
                headers.AddRange(values.Select(v => new KeyValuePair<string, string>(field.Name,
                    v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new ConsulException($"Check.Header.{field.Name} is not a list of strings."))));
            }
        }

        if (headers.Any(h => h.Key.Length == 0 || !h.Key.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)) || h.Value.Any(char.IsControl)))
        {
            throw new ConsulException("Check.Header has a name that is not an HTTP header name, or a value with a control character.");
        }

        if (headers.Any(h => h.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || h.Key.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ConsulException("Check.Header may not set Content-Length or Transfer-Encoding: the body's length is Check.Body's.");
        }

        // The first Host value only, as Consul takes it.
        var hostHeaders = headers.Where(h => h.Key.Equals("Host", StringComparison.OrdinalIgnoreCase)).ToList();
        if (hostHeaders.Count > 0)
        {
            if (Uri.CheckHostName(hostHeaders[0].Value.Split(':')[0].Trim('[', ']')) == UriHostNameType.Unknown && !hostHeaders[0].Value.StartsWith('['))
            {
                throw new ConsulException($"Check.Header.Host '{hostHeaders[0].Value}' is not a host[:port].");
            }

            headers.RemoveAll(h => h.Key.Equals("Host", StringComparison.OrdinalIgnoreCase) && h.Value != hostHeaders[0].Value);
        }

        if (target.UserInfo.Length > 0)
        {
            throw new ConsulException($"{what} carries user information: give credentials in Check.Header instead, out of the check's output.");
        }

        var body = ConsulRegistration.Member(check, "Body") switch
        {
            null or { ValueKind: JsonValueKind.Null } => null,
            { ValueKind: JsonValueKind.String } text => text.GetString() is { Length: > 0 } b ? b : null,
            var other => throw new ConsulException($"Check.Body {other.Value.GetRawText()} is not a string."),
        };
        var serverName = ConsulRegistration.Member(check, "TLSServerName") switch
        {
            null or { ValueKind: JsonValueKind.Null } => null,
            { ValueKind: JsonValueKind.String } text when text.GetString() is not { Length: > 0 } => null,
            // A host name, or an IP address (then no SNI is sent, and the certificate must name the address), as Go takes it.
            { ValueKind: JsonValueKind.String } text when Uri.CheckHostName(text.GetString()) is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6 => text.GetString(),
            { ValueKind: JsonValueKind.String } text => throw new ConsulException($"Check.TLSServerName '{text.GetString()}' is not a host name."),
            var other => throw new ConsulException($"Check.TLSServerName {other.Value.GetRawText()} is not a string."),
        };
        return new ConsulProbe(kind, http ?? tcp!, interval < MinimumInterval ? MinimumInterval : interval, timeout)
        {
            Method = method,
            Headers = headers,
            TlsSkipVerify = Flag(check, "TLSSkipVerify"),
            Body = kind == Http ? body : null,
            FollowRedirects = !Flag(check, "DisableRedirects"),
            // Consul uses it for https checks only.
            TlsServerName = target.Scheme == "https" ? serverName : null,
            MayCallLocal = fromThisMachine,
        };
    }

    private static bool Flag(JsonElement check, string name) => ConsulRegistration.Member(check, name) switch
    {
        null or { ValueKind: JsonValueKind.Null or JsonValueKind.False } => false,
        { ValueKind: JsonValueKind.True } => true,
        var other => throw new ConsulException($"Check.{name} {other.Value.GetRawText()} is not true or false."),
    };
}

/// <summary>Go's duration strings, as Consul writes them: <c>30s</c>, <c>1m30s</c>, <c>30m0s</c>, <c>500ms</c>, <c>1h</c>.</summary>
internal static class GoDuration
{
    public static TimeSpan Parse(string text, string where)
    {
        var total = TimeSpan.Zero;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }

            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            if (start == unitStart || !double.TryParse(text.AsSpan(start, unitStart - start), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                throw new ConsulException($"{where} '{text}' is not a duration like 30s, 1m30s or 500ms.");
            }

            total += text[unitStart..i] switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                "ms" => TimeSpan.FromMilliseconds(value),
                "us" or "µs" => TimeSpan.FromMicroseconds(value),
                "ns" => TimeSpan.FromTicks((long)(value / 100)),
                _ => throw new ConsulException($"{where} '{text}' is not a duration like 30s, 1m30s or 500ms."),
            };
        }

        return text.Length > 0 && total > TimeSpan.Zero ? total : throw new ConsulException($"{where} '{text}' is not a positive duration.");
    }
}

/// <summary>A request a Consul client must be told is wrong (400 with the reason, as the agent answers).</summary>
internal sealed class ConsulException(string message) : Exception(message);
