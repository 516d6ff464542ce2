using System.Globalization;
using System.Text.RegularExpressions;

namespace AspireMesh.Contracts.Config;

/// <summary>Durations as Gateway API writes them: one or more number+unit parts, e.g. <c>10s</c>, <c>1m30s</c>, <c>250ms</c>.</summary>
public static partial class MeshDuration
{
    /// <summary>Parses <paramref name="text"/>; false when it is not a duration.</summary>
    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text) || !Whole().IsMatch(text))
        {
            return false;
        }

        foreach (Match part in Part().Matches(text))
        {
            if (!double.TryParse(part.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                return false;
            }

            var unit = part.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(1),
                "m" => TimeSpan.FromMinutes(1),
                "s" => TimeSpan.FromSeconds(1),
                "ms" => TimeSpan.FromMilliseconds(1),
                _ => TimeSpan.Zero,
            };
            duration += unit * value;
        }

        return true;
    }

    /// <summary>Parses a duration already validated by <see cref="MeshConfigValidator"/>.</summary>
    public static TimeSpan Parse(string text) =>
        TryParse(text, out var duration) ? duration : throw new FormatException($"'{text}' is not a duration such as 10s, 250ms or 1m30s.");

    [GeneratedRegex(@"^(\d+(\.\d+)?(h|ms|m|s))+$", RegexOptions.CultureInvariant)]
    private static partial Regex Whole();

    [GeneratedRegex(@"(\d+(?:\.\d+)?)(h|ms|m|s)", RegexOptions.CultureInvariant)]
    private static partial Regex Part();
}
