using System.Reflection;

namespace AspireMesh.TestSupport;

/// <summary>The third-party programs of tests/interop (real npm clients and servers), started with Debian's node.</summary>
public static class Interop
{
    /// <summary>The full path of <paramref name="script"/> under tests/interop (e.g. <c>grpc/server.js</c>).</summary>
    public static string Script(Assembly testAssembly, string script)
    {
        var path = Path.Combine(BuiltProjects.RepositoryRoot(testAssembly), "tests", "interop", script);
        return File.Exists(path) ? path : throw new FileNotFoundException($"No interop script {script}.", path);
    }

    /// <summary>Starts <c>node</c> on an interop script; <paramref name="environment"/> adds to the inherited environment.</summary>
    public static Task<TestProcess> StartNodeAsync(Assembly testAssembly, string name, string script, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var path = Script(testAssembly, script);
        return TestProcess.StartAsync(name, "node", [path, .. arguments], environment, Path.GetDirectoryName(path));
    }
}
