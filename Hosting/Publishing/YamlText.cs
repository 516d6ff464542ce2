using System.Buffers;
using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace AspireMesh.Hosting.Publishing;

/// <summary>
/// Writes a tree of maps (<see cref="Map"/>), lists, strings, numbers and booleans as block YAML. Every string is
/// double-quoted (a JSON string is a valid YAML double-quoted scalar), so no value is ever read back as another type.
/// </summary>
internal static class YamlText
{
    /// <summary>A YAML mapping that keeps its keys in the order added.</summary>
    public sealed class Map : IEnumerable<KeyValuePair<string, object>>
    {
        private readonly List<KeyValuePair<string, object>> _entries = [];

        public void Add(string key, object? value)
        {
            if (value is not null)
            {
                _entries.Add(new(key, value));
            }
        }

        public IEnumerator<KeyValuePair<string, object>> GetEnumerator() => _entries.GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>
    /// An explicit YAML <c>null</c> (a <see cref="Map"/> leaves out entries whose value is a C# null): for a field that must
    /// be cleared, as <c>kubectl apply</c> clears what an earlier version of a manifest set.
    /// </summary>
    public sealed class Null
    {
        public static readonly Null Value = new();

        private Null()
        {
        }
    }

    /// <summary>The documents, separated by <c>---</c>.</summary>
    public static string Documents(IEnumerable<Map> documents) =>
        string.Join("---\n", documents.Select(d =>
        {
            var text = new StringBuilder();
            WriteMap(text, d, 0);
            return text.ToString();
        }));

    private static void WriteMap(StringBuilder text, Map map, int indent)
    {
        foreach (var (key, value) in map)
        {
            text.Append(' ', indent).Append(Key(key)).Append(':');
            WriteValue(text, value, indent);
        }
    }

    private static void WriteValue(StringBuilder text, object value, int indent)
    {
        switch (value)
        {
            case Null:
                text.Append(" null\n");
                break;
            case Map map when !map.Any():
                text.Append(" {}\n");
                break;
            case Map map:
                text.Append('\n');
                WriteMap(text, map, indent + 2);
                break;
            case string or int or long or bool:
                text.Append(' ').Append(Scalar(value)).Append('\n');
                break;
            case IEnumerable items:
                var list = items.Cast<object>().ToList();
                if (list.Count == 0)
                {
                    text.Append(" []\n");
                    break;
                }

                text.Append('\n');
                foreach (var item in list)
                {
                    if (item is Map itemMap && itemMap.Any())
                    {
                        // "- key: value" with the rest of the map aligned under the first key.
                        var nested = new StringBuilder();
                        WriteMap(nested, itemMap, indent + 4);
                        text.Append(' ', indent + 2).Append("- ").Append(nested.ToString(indent + 4, nested.Length - indent - 4));
                    }
                    else
                    {
                        text.Append(' ', indent + 2).Append('-');
                        WriteValue(text, item, indent + 2);
                    }
                }

                break;
            default:
                throw new ArgumentException($"cannot write a {value.GetType().Name} as YAML.", nameof(value));
        }
    }

    private static string Key(string key) =>
        key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '/') && char.IsAsciiLetter(key[0]) ? key : Quoted(key, JavaScriptEncoder.Default);

    private static string Scalar(object value) => value switch
    {
        // Readable quoted strings ('+', '<', quotes in JSON stay as they are); non-ASCII still escaped, which YAML reads too.
        string s => Quoted(s, JavaScriptEncoder.UnsafeRelaxedJsonEscaping),
        bool b => b ? "true" : "false",
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => throw new ArgumentException($"cannot write a {value.GetType().Name} as YAML.", nameof(value)),
    };

    /// <summary>A JSON string literal (a YAML double-quoted scalar), written without reflection so trimmed and Native AOT builds keep it.</summary>
    private static string Quoted(string value, JavaScriptEncoder encoder)
    {
        var buffer = new ArrayBufferWriter<byte>(value.Length + 2);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = encoder }))
        {
            writer.WriteStringValue(value);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
