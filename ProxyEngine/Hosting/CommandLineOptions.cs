using System.CommandLine;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>Command-line options the proxies share.</summary>
public static class CommandLineOptions
{
    /// <summary>An option holding an absolute http(s) URL, refused with a clear message otherwise.</summary>
    public static Option<Uri> Url(string name, string description, Uri? defaultValue = null)
    {
        var option = new Option<Uri>(name)
        {
            Description = description,
            Required = defaultValue is null,
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
                if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
                {
                    return uri;
                }

                result.AddError($"{name}: '{text}' is not an absolute http(s) URL.");
                return null;
            },
        };
        if (defaultValue is not null)
        {
            option.DefaultValueFactory = _ => defaultValue;
        }

        return option;
    }

    /// <summary>
    /// <c>--telemetry on|off</c>: whether the proxy measures requests (metrics, tap, access log, traces). Off exists to
    /// measure what telemetry costs; a mesh runs with it on.
    /// </summary>
    public static Option<string> Telemetry() =>
        OneOf("--telemetry", "on (default): metrics, tap, access log and traces; off: none of them (to measure their cost).", "on", "off");

    /// <summary>The default of <see cref="MemoryReclaimInterval"/>, in seconds.</summary>
    public const int DefaultMemoryReclaimSeconds = 2;

    /// <summary><c>--memory-reclaim-interval &lt;seconds&gt;</c>: see ProxyEngine's MemoryReclaimer; 0 turns it off.</summary>
    public static Option<int> MemoryReclaimInterval()
    {
        var option = new Option<int>("--memory-reclaim-interval")
        {
            Description = "Seconds between two checks whether load has fallen and memory a burst left behind can be returned to the system, with the pages of code no longer run (default 2; 0: never).",
            DefaultValueFactory = _ => DefaultMemoryReclaimSeconds,
        };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 0)
            {
                result.AddError($"--memory-reclaim-interval: {result.GetValueOrDefault<int>()} is negative; give seconds, or 0 to turn it off.");
            }
        });
        return option;
    }

    /// <summary>An option taking one of <paramref name="values"/>, the first by default; anything else is refused naming them.</summary>
    private static Option<string> OneOf(string name, string description, params string[] values)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => values[0] };
        option.AcceptOnlyFromAmong(values);
        return option;
    }
}
