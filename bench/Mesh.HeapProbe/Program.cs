using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

// What a running .NET process's GC heap holds, by type (see bench/README.md). The runtime's event provider, asked for a
// heap dump over the diagnostics port, makes one full blocking collection and lists every live object (address, size,
// type) and the types' names; this sums them. dotnet-gcdump does the same, and is not on this project's NuGet feed.
if (args.Length == 0 || !int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench/Mesh.HeapProbe -- <pid> [--top N]");
    return 2;
}

var top = args.SkipWhile(a => a != "--top").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(30);
const long GcKeyword = 0x1, GcHeapDumpKeyword = 0x100000, TypeKeyword = 0x80000, GcHeapCollectKeyword = 0x800000, GcHeapAndTypeNamesKeyword = 0x1000000;
var providers = new[]
{
    new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Verbose,
        GcKeyword | GcHeapDumpKeyword | TypeKeyword | GcHeapCollectKeyword | GcHeapAndTypeNamesKeyword),
};

EventPipeSession session;
try
{
    session = new DiagnosticsClient(pid).StartEventPipeSession(providers, requestRundown: false, circularBufferMB: 256);
}
catch (Exception ex) when (ex is ServerNotAvailableException or UnsupportedCommandException or TimeoutException)
{
    Console.Error.WriteLine($"heap-probe: process {pid} has no diagnostics port to ask ({ex.Message}). Native AOT executables have none: probe the JIT-compiled build.");
    return 1;
}

Console.Error.WriteLine($"heap-probe: asked process {pid} for a heap dump (one full blocking collection)");
var names = new Dictionary<ulong, string>();
var objects = new List<(ulong Size, ulong Type)>();
var induced = false;
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
    source.Clr.GCStart += data => induced |= data.Reason == Microsoft.Diagnostics.Tracing.Parsers.Clr.GCReason.Induced;
    // The induced collection has ended: what it listed is in the session's buffers, which stopping flushes.
    source.Clr.GCStop += _ =>
    {
        if (induced)
        {
            induced = false;
            session.Stop();
        }
    };
    source.Process();
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
