namespace AspireMesh.Hosting.Processes;

/// <summary>What to start: a command, its arguments, its environment additions and its working directory.</summary>
public sealed record ProcessSpec(string Command, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string> Environment, string? WorkingDirectory = null)
{
    /// <summary>The command line, for messages.</summary>
    public override string ToString() => string.Join(' ', Arguments.Prepend(Command).Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a));
}
