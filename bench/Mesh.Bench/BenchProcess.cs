using System.Reflection;
using System.Text.RegularExpressions;
using AspireMesh.Hosting.Processes;

namespace AspireMesh.Mesh.Bench;

/// <summary>A process the bench started and measures: its output (kept for error messages), and its admin URL if a proxy of ours.</summary>
internal sealed class BenchProcess : IAsyncDisposable
{
    private readonly ManagedProcess _process;
    private readonly Queue<string> _tail = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Found)> _waiters = [];
    private readonly Lock _gate = new();

    private BenchProcess(string name, ManagedProcess process, Uri? admin)
    {
        Name = name;
        _process = process;
        Admin = admin;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    /// <summary>The admin listener of a Gateway or sidecar (<c>/debug/runtime</c>), else null.</summary>
    public Uri? Admin { get; }

    public Task<int> Exited => _process.Exited;

    /// <summary>The port load is sent to, for a process that has one.</summary>
    public int Port { get; private set; }

    public BenchProcess WithPort(int port)
    {
        Port = port;
        return this;
    }

    public static async Task<BenchProcess> StartAsync(string name, string command, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null,
        Uri? admin = null)
    {
        BenchProcess? self = null;
        var early = new List<string>();
        var process = await ManagedProcess.StartAsync(new ProcessSpec(command, args, environment ?? new Dictionary<string, string>()), (line, _) =>
        {
            if (self is null)
            {
                lock (early)
                {
                    early.Add(line);
                }

                return;
            }

            self.OnLine(line);
        }).ConfigureAwait(false);
        self = new BenchProcess(name, process, admin);
        lock (early)
        {
            foreach (var line in early)
            {
                self.OnLine(line);
            }
        }

        return self;
    }

    /// <summary>Starts a project of this repository (built in the bench's configuration) with <c>dotnet</c>.</summary>
    public static Task<BenchProcess> StartProjectAsync(string name, string projectFile, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null,
        Uri? admin = null) => StartAsync(name, "dotnet", [ProjectAssembly(projectFile), .. args], environment, admin);

    public static string ProjectAssembly(string projectFile) =>
        typeof(BenchProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Where(a => a.Key == "AspireMesh.Project" && a.Value is not null)
            .Select(a => a.Value!.Split('|'))
            .Where(parts => string.Equals(Path.GetFileName(parts[0]), projectFile, StringComparison.OrdinalIgnoreCase))
            .Select(parts => parts[1])
            .SingleOrDefault(File.Exists)
        ?? throw new InvalidOperationException($"{projectFile} is not built next to the bench; build with: dotnet build -c Release bench/Mesh.Bench");

    /// <summary>Waits for an output line matching <paramref name="pattern"/>, failing with the output if the process exits or time runs out.</summary>
    public async Task<Match> WaitForLineAsync(string pattern, TimeSpan timeout)
    {
        var found = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        lock (_gate)
        {
            foreach (var line in _tail)
            {
                if (regex.Match(line) is { Success: true } m)
                {
                    return m;
                }
            }

            _waiters.Add((regex, found));
        }

        var first = await Task.WhenAny(found.Task, Exited, Task.Delay(timeout)).ConfigureAwait(false);
        return first == found.Task
            ? await found.Task.ConfigureAwait(false)
            : throw new InvalidOperationException($"{Name} {(first == Exited ? "exited" : "did not print")} /{pattern}/ within {timeout.TotalSeconds:0}s. Its output:\n{Output}");
    }

    /// <summary>The last lines the process printed.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _tail);
            }
        }
    }

    private void OnLine(string line)
    {
        lock (_gate)
        {
            _tail.Enqueue(line);
            if (_tail.Count > 200)
            {
                _tail.Dequeue();
            }

            foreach (var waiter in _waiters.Where(w => w.Pattern.IsMatch(line)).ToList())
            {
                waiter.Found.TrySetResult(waiter.Pattern.Match(line));
                _waiters.Remove(waiter);
            }
        }
    }

    private int _disposed;

    /// <summary>Stops the process (SIGTERM, then kill); safe to call more than once.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _process.DisposeAsync().ConfigureAwait(false);
        }
    }
}
