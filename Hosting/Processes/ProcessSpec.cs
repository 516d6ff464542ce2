namespace AspireMesh.Hosting.Processes;

/// <summary>
/// What to start: a command, its arguments, its environment additions, its working directory, and the variables of
/// this process's environment it does not inherit (a variable both withheld and in <see cref="Environment"/> gets the
/// value given there).
/// </summary>
public sealed record ProcessSpec(string Command, IReadOnlyList<string> Arguments, IReadOnlyDictionary<string, string> Environment, string? WorkingDirectory = null,
    IReadOnlyCollection<string>? Withheld = null)
{
    /// <summary>The command line, for messages.</summary>
    public override string ToString() => string.Join(' ', Arguments.Prepend(Command).Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a));
}
