using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace AspireMesh.Contracts;

/// <summary>
/// Which members of a JSON document the type it was read into did not take: what a <see cref="MeshJsonContext.Tolerant"/>
/// read skipped, named by path (<c>routes[0].rules[1].mirrorPercent</c>), so that a proxy older than its control plane
/// can say which fields it ignored.
/// </summary>
public static class UnknownMembers
{
    /// <summary>
    /// Compares <paramref name="json"/> with <paramref name="value"/> (what was read from it) written back: a member of
    /// the document that is not null and has no counterpart in what the type writes is one it does not know.
    /// </summary>
    public static IReadOnlyList<string> Find<T>(ReadOnlyMemory<byte> json, T value, JsonTypeInfo<T> typeInfo)
    {
        using var document = JsonDocument.Parse(json);
        var known = JsonSerializer.SerializeToElement(value, typeInfo);
        var found = new List<string>();
        Walk(document.RootElement, known, "", found);
        return found;
    }

    private static void Walk(JsonElement document, JsonElement known, string path, List<string> found)
    {
        if (document.ValueKind == JsonValueKind.Object && known.ValueKind == JsonValueKind.Object)
        {
            foreach (var member in document.EnumerateObject())
            {
                if (member.Value.ValueKind == JsonValueKind.Null)
                {
                    continue;
                }

                var memberPath = path.Length == 0 ? member.Name : $"{path}.{member.Name}";
                if (TryGetMember(known, member.Name, out var counterpart))
                {
                    Walk(member.Value, counterpart, memberPath, found);
                }
                else
                {
                    found.Add(memberPath);
                }
            }
        }
        else if (document.ValueKind == JsonValueKind.Array && known.ValueKind == JsonValueKind.Array)
        {
            var count = Math.Min(document.GetArrayLength(), known.GetArrayLength());
            for (var i = 0; i < count; i++)
            {
                Walk(document[i], known[i], $"{path}[{i}]", found);
            }
        }
    }

    // Reads are case-insensitive (JsonSerializerDefaults.Web), so a member matches whatever its case.
    private static bool TryGetMember(JsonElement known, string name, out JsonElement value)
    {
        foreach (var member in known.EnumerateObject())
        {
            if (string.Equals(member.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = member.Value;
                return true;
            }
        }

        value = default;
        return false;
    }
}
