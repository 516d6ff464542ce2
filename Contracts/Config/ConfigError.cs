namespace AspireMesh.Contracts.Config;

/// <summary>One validation error: where in the document, and what is wrong there.</summary>
/// <param name="Path">JSON-path-like location, e.g. <c>routes[2].rules[0].backendRefs[1].name</c>.</param>
/// <param name="Message">What is wrong, in a sentence.</param>
public sealed record ConfigError(string Path, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Path}: {Message}";
}
