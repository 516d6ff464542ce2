using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AspireMesh.Contracts.Config;

/// <summary>The formats a mesh config can be written in.</summary>
public enum ConfigFormat
{
    /// <summary>JSON.</summary>
    Json,

    /// <summary>YAML (1.2 core scalars: unquoted numbers and booleans are typed, quoted text is a string).</summary>
    Yaml,
}

/// <summary>The outcome of parsing and validating a config document.</summary>
/// <param name="Config">The config, when there are no errors.</param>
/// <param name="Errors">Every problem, each with its path.</param>
public sealed record ConfigParseResult(MeshConfig? Config, IReadOnlyList<ConfigError> Errors)
{
    /// <summary>Whether the document is a valid config.</summary>
    public bool IsValid => Config is not null && Errors.Count == 0;
}

/// <summary>
/// Reads a mesh config from JSON or YAML and validates it. YAML is translated to JSON first, so both formats share one
/// schema, one set of messages and the same refusal of unknown keys.
/// </summary>
public static partial class MeshConfigParser
{
    /// <summary>Largest document accepted, after YAML aliases are expanded.</summary>
    public const int MaxDocumentBytes = 4 * 1024 * 1024;

    /// <summary>Deepest nesting accepted.</summary>
    public const int MaxDepth = 64;

    /// <summary>Picks the format from a media type or a file name, else from the document's first character.</summary>
    public static ConfigFormat DetectFormat(string text, string? mediaTypeOrFileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        var hint = mediaTypeOrFileName?.ToLowerInvariant() ?? "";
        if (hint.Contains("json", StringComparison.Ordinal))
        {
            return ConfigFormat.Json;
        }

        if (hint.Contains("yaml", StringComparison.Ordinal) || hint.EndsWith(".yml", StringComparison.Ordinal))
        {
            return ConfigFormat.Yaml;
        }

        var first = text.TrimStart().FirstOrDefault();
        return first is '{' ? ConfigFormat.Json : ConfigFormat.Yaml;
    }

    /// <summary>Parses and validates <paramref name="text"/>.</summary>
    public static ConfigParseResult Parse(string text, ConfigFormat format)
    {
        ArgumentNullException.ThrowIfNull(text);
        string json;
        if (format == ConfigFormat.Yaml)
        {
            var converted = YamlToJson(text);
            if (converted.Error is { } yamlError)
            {
                return new ConfigParseResult(null, [yamlError]);
            }

            json = converted.Json!;
        }
        else
        {
            json = text;
        }

        MeshConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(json, MeshJsonContext.Default.MeshConfig);
        }
        catch (JsonException ex)
        {
            return new ConfigParseResult(null, [Describe(ex, format)]);
        }

        if (config is null)
        {
            return new ConfigParseResult(null, [new ConfigError("$", "the document is empty; expected an object with services, routes and policies.")]);
        }

        var errors = MeshConfigValidator.Validate(config);
        return new ConfigParseResult(errors.Count == 0 ? config : null, errors);
    }

    /// <summary>Writes <paramref name="config"/> in <paramref name="format"/>.</summary>
    public static string Write(MeshConfig config, ConfigFormat format)
    {
        var json = JsonSerializer.Serialize(config, MeshJsonContext.Default.MeshConfig);
        if (format == ConfigFormat.Json)
        {
            return json;
        }

        using var document = JsonDocument.Parse(json);
        var yaml = new StringBuilder();
        WriteYaml(document.RootElement, yaml, 0, inSequence: false);
        return yaml.ToString();
    }

    private static ConfigError Describe(JsonException ex, ConfigFormat format)
    {
        var path = ex.Path is null or "$" or "$." ? "$" : ex.Path.StartsWith("$.", StringComparison.Ordinal) ? ex.Path[2..] : ex.Path;
        if (string.IsNullOrWhiteSpace(path) || path.Any(char.IsControl))
        {
            path = "$";
        }
        var where = format == ConfigFormat.Json && ex.LineNumber is { } line ? $" (line {line + 1}, column {ex.BytePositionInLine + 1})" : "";
        var message = ex.Message;
        if (UnmappedMember().Match(message) is { Success: true } unknown)
        {
            var field = unknown.Groups[1].Value;
            var parent = path.EndsWith(field, StringComparison.Ordinal) ? path[..^field.Length].TrimEnd('.') : path;
            return new ConfigError(path, $"unknown field '{field}'{(parent.Length > 0 && parent != "$" ? $" in {parent}" : "")}{where}; see docs/config.md for the schema.");
        }

        if (ConvertFailure().Match(message) is { Success: true } convert)
        {
            var expected = convert.Groups[1].Value switch
            {
                "System.Int32" or "System.Int64" => "a whole number",
                "System.Double" => "a number",
                "System.Boolean" => "true or false",
                "System.String" => "a string",
                var type when type.Contains("IReadOnlyList", StringComparison.Ordinal) => "a list",
                _ => "an object",
            };
            return new ConfigError(path, $"expected {expected}{where}.");
        }

        if (message.Contains("doesn't allow setting null values", StringComparison.Ordinal))
        {
            return new ConfigError(path, $"must not be null{where}; leave the key out or give it a value.");
        }

        var firstSentence = message.Split(" Path:", 2)[0];
        return new ConfigError(path, $"{firstSentence}{where}");
    }

    private static (string? Json, ConfigError? Error) YamlToJson(string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            return (null, new ConfigError("$", $"malformed YAML at line {ex.Start.Line}, column {ex.Start.Column}: {(ex.InnerException ?? ex).Message}"));
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            // YamlDotNet's loader reports some malformed streams this way rather than as a YamlException
            // (an empty key; content after a document end marker).
            return (null, new ConfigError("$", $"malformed YAML: {ex.Message.Split(" (Parameter", 2)[0]}"));
        }

        if (stream.Documents.Count != 1)
        {
            return (null, new ConfigError("$", stream.Documents.Count == 0 ? "the document is empty." : $"expected one YAML document, found {stream.Documents.Count}."));
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            var budget = MaxDocumentBytes;
            if (!WriteJson(stream.Documents[0].RootNode, writer, ref budget, "$", out var error))
            {
                return (null, error);
            }
        }

        return (Encoding.UTF8.GetString(buffer.ToArray()), null);
    }

    private static bool WriteJson(YamlNode node, Utf8JsonWriter writer, ref int budget, string path, out ConfigError? error)
    {
        error = null;
        if (writer.CurrentDepth >= MaxDepth)
        {
            error = new ConfigError(path, $"the document nests deeper than {MaxDepth} levels (is there a YAML alias that contains itself?).");
            return false;
        }

        if (--budget < 0 || writer.BytesPending + writer.BytesCommitted > MaxDocumentBytes)
        {
            error = new ConfigError(path, $"the document expands to more than {MaxDocumentBytes / (1024 * 1024)} MB (check for YAML aliases that repeat large nodes).");
            return false;
        }

        switch (node)
        {
            case YamlMappingNode mapping:
                writer.WriteStartObject();
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is not YamlScalarNode { Value: { Length: > 0 } name } || string.IsNullOrWhiteSpace(name) || name.Any(char.IsControl))
                    {
                        error = new ConfigError(path, $"line {key.Start.Line}: a key must be a plain name, not an empty or complex key.");
                        return false;
                    }

                    var childPath = path == "$" ? name : $"{path}.{name}";
                    writer.WritePropertyName(name);
                    if (!WriteJson(value, writer, ref budget, childPath, out error))
                    {
                        return false;
                    }
                }

                writer.WriteEndObject();
                return true;
            case YamlSequenceNode sequence:
                writer.WriteStartArray();
                var index = 0;
                foreach (var item in sequence.Children)
                {
                    if (!WriteJson(item, writer, ref budget, $"{path}[{index++}]", out error))
                    {
                        return false;
                    }
                }

                writer.WriteEndArray();
                return true;
            case YamlScalarNode scalar:
                WriteScalar(scalar, writer);
                return true;
            default:
                error = new ConfigError(path, "unsupported YAML node.");
                return false;
        }
    }

    private static void WriteScalar(YamlScalarNode scalar, Utf8JsonWriter writer)
    {
        var value = scalar.Value ?? "";
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any))
        {
            writer.WriteStringValue(value);
        }
        else if (value is "" or "~" or "null" or "Null" or "NULL")
        {
            writer.WriteNullValue();
        }
        else if (value is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            writer.WriteBooleanValue(value[0] is 't' or 'T');
        }
        else if (Integer().IsMatch(value) && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            writer.WriteNumberValue(integer);
        }
        else if (Float().IsMatch(value) && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
        {
            writer.WriteNumberValue(number);
        }
        else
        {
            writer.WriteStringValue(value);
        }
    }

    private static void WriteYaml(JsonElement element, StringBuilder yaml, int indent, bool inSequence)
    {
        var pad = new string(' ', indent);
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var first = true;
                foreach (var property in element.EnumerateObject())
                {
                    yaml.Append(first && inSequence ? "" : pad).Append(property.Name).Append(':');
                    first = false;
                    WriteYamlValue(property.Value, yaml, indent);
                }

                if (first)
                {
                    yaml.Append(inSequence ? "" : pad).Append("{}\n");
                }

                break;
            default:
                WriteYamlValue(element, yaml, indent);
                break;
        }
    }

    private static void WriteYamlValue(JsonElement value, StringBuilder yaml, int indent)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object when value.EnumerateObject().Any():
                yaml.Append('\n');
                WriteYaml(value, yaml, indent + 2, inSequence: false);
                break;
            case JsonValueKind.Object:
                yaml.Append(" {}\n");
                break;
            case JsonValueKind.Array when value.GetArrayLength() == 0:
                yaml.Append(" []\n");
                break;
            case JsonValueKind.Array:
                yaml.Append('\n');
                foreach (var item in value.EnumerateArray())
                {
                    yaml.Append(new string(' ', indent + 2)).Append("- ");
                    if (item.ValueKind == JsonValueKind.Object)
                    {
                        WriteYaml(item, yaml, indent + 4, inSequence: true);
                    }
                    else
                    {
                        yaml.Append(Scalar(item)).Append('\n');
                    }
                }

                break;
            default:
                yaml.Append(' ').Append(Scalar(value)).Append('\n');
                break;
        }
    }

    private static string Scalar(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String when value.GetString() is { } text && PlainSafe().IsMatch(text) && !YamlKeyword().IsMatch(text) && !Float().IsMatch(text) => text,
        JsonValueKind.String => JsonSerializer.Serialize(value.GetString(), MeshJsonContext.Default.String),
        JsonValueKind.Null => "null",
        _ => value.GetRawText(),
    };

    /// <summary>Text that YAML reads back as the same string when written without quotes.</summary>
    [GeneratedRegex(@"^[A-Za-z_/][A-Za-z0-9_./+-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex PlainSafe();

    [GeneratedRegex(@"^(true|false|null|yes|no|on|off|y|n)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex YamlKeyword();

    [GeneratedRegex(@"The JSON property '([^']+)' could not be mapped", RegexOptions.CultureInvariant)]
    private static partial Regex UnmappedMember();

    [GeneratedRegex(@"could not be converted to ([\w.`\[\], ]+)\.", RegexOptions.CultureInvariant)]
    private static partial Regex ConvertFailure();

    [GeneratedRegex(@"^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Integer();

    [GeneratedRegex(@"^[-+]?([0-9]*\.[0-9]+|[0-9]+\.?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Float();
}
