namespace AspireMesh.Hosting.Model;

/// <summary>The AppHost model is invalid; <see cref="Errors"/> lists every problem found.</summary>
public sealed class TopologyException(IReadOnlyList<string> errors)
    : Exception($"The AppHost model is invalid:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", errors)}")
{
    /// <summary>Each problem, naming the resource it is about.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
}
