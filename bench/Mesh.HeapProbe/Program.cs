using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

// What a running .NET process's GC heap holds, by type (see bench/README.md). The runtime's event provider, asked for a
// heap dump over the diagnostics port, makes one full blocking collection and lists every live object (address, size,
// type) and the types' names; this sums them. dotnet-gcdump does the same, and is not on this project's NuGet feed.
const string Usage = "usage: dotnet run -c Release --project bench/Mesh.HeapProbe -- <pid> [--top N]";
if (args is not [var pidText, ..] || !int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
{
    Console.Error.WriteLine($"heap-probe: give the id of a running .NET process{(args.Length == 0 ? "" : $" ('{args[0]}' is not one)")}\n{Usage}");
    return 2;
}

var top = 30;
if (args is [_, "--top", var topText] && (!int.TryParse(topText, NumberStyles.None, CultureInfo.InvariantCulture, out top) || top <= 0)
    || args is not ([_] or [_, "--top", _]))
{
    Console.Error.WriteLine($"heap-probe: after the process id only --top N may follow, N a positive number of rows\n{Usage}");
    return 2;
}

const long GcKeyword = 0x1, GcHeapDumpKeyword = 0x100000, TypeKeyword = 0x80000, GcHeapCollectKeyword = 0x800000, GcHeapAndTypeNamesKeyword = 0x1000000;
var providers = new[]
{
    new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Verbose,
        GcKeyword | GcHeapDumpKeyword | TypeKeyword | GcHeapCollectKeyword | GcHeapAndTypeNamesKeyword),
};

try
{
    using var target = Process.GetProcessById(pid);
}
catch (ArgumentException)
{
    Console.Error.WriteLine($"heap-probe: no process has the id {pid}");
    return 1;
}

EventPipeSession session;
try
{
    session = new DiagnosticsClient(pid).StartEventPipeSession(providers, requestRundown: false, circularBufferMB: 256);
}
catch (Exception ex) when (ex is ServerNotAvailableException or UnsupportedCommandException or TimeoutException or SocketException or UnauthorizedAccessException or IOException)
{
    Console.Error.WriteLine($"heap-probe: process {pid} has no diagnostics port to ask ({ex.Message}). It is not a .NET process, or it runs with "
        + "DOTNET_EnableDiagnostics=0, with another TMPDIR or as another user; this project's Native AOT build has none (its EventSource support "
        + "is off): probe the JIT-compiled build.");
    return 1;
}

Console.Error.WriteLine($"heap-probe: asked process {pid} for a heap dump (one full blocking collection)");
var deadline = TimeSpan.FromSeconds(30);
var names = new Dictionary<ulong, string>();
var objects = new List<(ulong Size, ulong Type)>();
var dumped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using (session)
{
    using var source = new EventPipeEventSource(session.EventStream);
    source.Clr.TypeBulkType += data =>
    {
        for (var i = 0; i < data.Count; i++)
        {
            var type = data.Values(i);
            names[type.TypeID] = type.TypeName;
        }
    };
    source.Clr.GCBulkNode += data =>
    {
        for (var i = 0; i < data.Count; i++)
        {
            var node = data.Values(i);
            objects.Add((node.Size, node.TypeID));
        }
    };
    // The dump's collection is the first blocking full one after the session starts; its end means all it listed has
    // been written (any other collection the process makes meanwhile is not it).
    int? dumpCollection = null;
    source.Clr.GCStart += data =>
    {
        if (dumpCollection is null && data.Depth == 2 && data.Type != GCType.BackgroundGC)
        {
            dumpCollection = data.Count;
        }
    };
    source.Clr.GCStop += data =>
    {
        if (data.Count == dumpCollection)
        {
            dumped.TrySetResult();
        }
    };

    // Read on its own thread: stopping the session waits for the process to write the rest of its events, which
    // must be read for that to happen.
    var reader = Task.Run(source.Process);
    await Task.WhenAny(dumped.Task, reader, Task.Delay(deadline)).ConfigureAwait(false);
    var complete = dumped.Task.IsCompleted;
    try
    {
        session.Stop();
    }
    catch (Exception ex) when (ex is ServerNotAvailableException or TimeoutException or IOException or SocketException)
    {
        // The process is gone, or never answered: what was read is all there is.
    }

    if (await Task.WhenAny(reader, Task.Delay(deadline)).ConfigureAwait(false) != reader)
    {
        Console.Error.WriteLine($"heap-probe: process {pid} did not end the session within {deadline.TotalSeconds:0} s");
        return 1;
    }

    if (!complete)
    {
        Console.Error.WriteLine($"heap-probe: process {pid} did not complete a heap dump within {deadline.TotalSeconds:0} s (it may have exited; "
            + $"{objects.Count} objects were listed)");
        return 1;
    }
}

var total = objects.Aggregate(0UL, (sum, o) => sum + o.Size);
Console.WriteLine($"live objects: {objects.Count}, {total / 1048576.0:0.00} MB");
Console.WriteLine();
Console.WriteLine("| type | objects | KB |");
Console.WriteLine("|---|---:|---:|");
foreach (var type in objects.GroupBy(o => o.Type).Select(g => (Name: Name(g.Key), Count: g.Count(), Bytes: g.Aggregate(0UL, (sum, o) => sum + o.Size)))
    .OrderByDescending(t => t.Bytes).Take(top))
{
    Console.WriteLine($"| {type.Name} | {type.Count} | {type.Bytes / 1024.0:0.0} |");
}

Console.WriteLine();
Console.WriteLine("Objects of 16 KB or more, by type and size (pooled buffers show here):");
Console.WriteLine();
Console.WriteLine("| type | bytes each | objects | KB |");
Console.WriteLine("|---|---:|---:|---:|");
foreach (var group in objects.Where(o => o.Size >= 16384).GroupBy(o => (o.Type, o.Size)).OrderByDescending(g => g.Key.Size * (ulong)g.Count()).Take(top))
{
    Console.WriteLine($"| {Name(group.Key.Type)} | {group.Key.Size} | {group.Count()} | {group.Key.Size * (ulong)group.Count() / 1024.0:0.0} |");
}

return 0;

string Name(ulong type) => names.TryGetValue(type, out var name) ? name : $"(type {type:x})";
