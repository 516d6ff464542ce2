using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.TestSupport;

/// <summary>
/// A real process started by a test: its output is kept (and echoed to the test log), lines can be awaited, and it is
/// always stopped on dispose. Started through the mesh's launcher, so it cannot outlive the test host either.
/// </summary>
public sealed class TestProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<string> _errorLines = new();
    private readonly Lock _gate = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Found)> _waiters = [];
    private readonly string _name;
    private ManagedProcess? _process;

    private TestProcess(string name) => _name = name;

    /// <summary>Process id.</summary>
    public int Id => _process!.Id;

    /// <summary>Completes with the exit code.</summary>
    public Task<int> Exited => _process!.Exited;

    /// <summary>All output so far, stdout and stderr interleaved.</summary>
    public string Output => string.Join(Environment.NewLine, _lines);

    /// <summary>What the process wrote to standard error so far (also part of <see cref="Output"/>).</summary>
    public string ErrorOutput => string.Join(Environment.NewLine, _errorLines);

    /// <summary>Starts <paramref name="command"/>; <paramref name="environment"/> adds to the inherited environment.</summary>
    public static async Task<TestProcess> StartAsync(string name, string command, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var process = new TestProcess(name);
        process._process = await ManagedProcess.StartAsync(
            new ProcessSpec(command, [.. arguments], environment ?? new Dictionary<string, string>(), workingDirectory),
            process.OnLine).ConfigureAwait(false);
        return process;
    }

    /// <summary>Starts a built .NET assembly with <c>dotnet</c>.</summary>
    public static Task<TestProcess> StartDotnetAsync(string name, string assembly, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null) =>
        StartAsync(name, "dotnet", [assembly, .. arguments], environment, Path.GetDirectoryName(assembly));

    /// <summary>Waits for an output line matching <paramref name="pattern"/> (including lines already printed).</summary>
    public async Task<Match> WaitForLineAsync(string pattern, TimeSpan timeout)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var found = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            foreach (var line in _lines)
            {
                if (regex.Match(line) is { Success: true } match)
                {
                    return match;
                }
            }

            _waiters.Add((regex, found));
        }

        var exited = Exited.ContinueWith(t => (Match?)null, TaskScheduler.Default);
        var first = await Task.WhenAny(found.Task, exited, Task.Delay(timeout)).ConfigureAwait(false);
        // The line and the exit can land together; the line counts (the exit only completes after output is drained).
        if (found.Task.IsCompleted)
        {
            return await found.Task.ConfigureAwait(false);
        }

        var why = first == exited ? $"it exited with code {await Exited.ConfigureAwait(false)}" : $"{timeout.TotalSeconds:0} s passed";
        throw new TimeoutException($"{_name} printed no line matching /{pattern}/ ({why}). Output:{Environment.NewLine}{Output}");
    }

    /// <summary>Sends SIGTERM and waits for the exit; kills after <paramref name="grace"/>.</summary>
    public Task<int> StopAsync(TimeSpan grace) => _process!.StopAsync(grace);

    /// <summary>Kills the process at once.</summary>
    public void Kill() => _process!.Kill();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void OnLine(string line, bool isError)
    {
        lock (_gate)
        {
            _lines.Enqueue(line);
            if (isError)
            {
                _errorLines.Enqueue(line);
            }
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Pattern.Match(line) is { Success: true } match)
                {
                    _waiters[i].Found.TrySetResult(match);
                    _waiters.RemoveAt(i);
                }
            }
        }

        Console.WriteLine($"[{_name}{(isError ? " err" : "")}] {line}");
    }
}
