using System.Net;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>A real sidecar process; its listener URLs are read from its "listening" line.</summary>
internal sealed class SidecarProcess : IAsyncDisposable
{
    private readonly bool _ownsStateDirectory;
    private readonly HttpClient _admin = new();
    private int _disposed;

    private SidecarProcess(TestProcess process, Uri inbound, Uri outbound, Uri admin, string stateDirectory, bool ownsStateDirectory)
    {
        _ownsStateDirectory = ownsStateDirectory;
        StateDirectory = stateDirectory;
        Process = process;
        Inbound = inbound;
        Outbound = outbound;
        Admin = admin;
    }

    public TestProcess Process { get; }

    /// <summary>Where this sidecar keeps its last snapshot: a fresh temporary folder unless the test gives one.</summary>
    public string StateDirectory { get; }

    public Uri Inbound { get; }

    public Uri Outbound { get; }

    public Uri Admin { get; }

    public static string Assembly => BuiltProjects.Assembly(typeof(SidecarProcess).Assembly, "MeshProxy.csproj");

    public static Task<SidecarProcess> StartAsync(ControlPlaneProcess controlPlane, string service, string instanceId, Uri? appUrl, params string[] extra) =>
        StartAsync(controlPlane.Url, service, instanceId, appUrl, null, extra);

    public static Task<SidecarProcess> StartAsync(Uri controlPlane, string service, string instanceId, Uri? appUrl, string? stateDirectory, params string[] extra) =>
        StartAsync(controlPlane, service, instanceId, appUrl, stateDirectory, null, extra);

    public static Task<SidecarProcess> StartAsync(Uri controlPlane, string service, string instanceId, Uri? appUrl, string? stateDirectory,
        IReadOnlyDictionary<string, string>? environment, params string[] extra) =>
        StartCoreAsync(null, controlPlane, service, instanceId, appUrl, stateDirectory, environment, extra);

    /// <summary>Starts a sidecar from a native executable (the Native AOT build, <see cref="NativeAotSidecar"/>) instead of the built assembly.</summary>
    public static Task<SidecarProcess> StartNativeAsync(string executable, ControlPlaneProcess controlPlane, string service, string instanceId, Uri? appUrl,
        params string[] extra) =>
        StartNativeAsync(executable, controlPlane, service, instanceId, appUrl, null, extra);

    /// <summary>As above, with more environment variables for the sidecar.</summary>
    public static Task<SidecarProcess> StartNativeAsync(string executable, ControlPlaneProcess controlPlane, string service, string instanceId, Uri? appUrl,
        IReadOnlyDictionary<string, string>? environment, params string[] extra) =>
        StartCoreAsync(executable, controlPlane.Url, service, instanceId, appUrl, null, environment, extra);

    private static async Task<SidecarProcess> StartCoreAsync(string? executable, Uri controlPlane, string service, string instanceId, Uri? appUrl, string? stateDirectory,
        IReadOnlyDictionary<string, string>? environment, string[] extra)
    {
        var owns = stateDirectory is null;
        stateDirectory ??= Directory.CreateTempSubdirectory("aspiremesh-proxy-").FullName;
        var args = new List<string> { "--service", service, "--instance-id", instanceId, "--control-plane", controlPlane.ToString(), "--state-dir", stateDirectory };
        if (appUrl is not null)
        {
            args.AddRange(["--app-url", appUrl.ToString()]);
        }

        args.AddRange(extra);
        var env = ControlPlaneProcess.SidecarEnvironment(service, instanceId);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            env[key] = value;
        }

        var process = executable is null
            ? await TestProcess.StartDotnetAsync(instanceId, Assembly, args, env)
            : await TestProcess.StartAsync(instanceId, executable, args, env);
        try
        {
            var line = await process.WaitForLineAsync(@"listening: inbound (\S+), outbound (\S+), admin (\S+)$", TimeSpan.FromSeconds(60));
            return new SidecarProcess(process, new Uri(line.Groups[1].Value.TrimEnd(',')), new Uri(line.Groups[2].Value.TrimEnd(',')), new Uri(line.Groups[3].Value), stateDirectory, owns);
        }
        catch
        {
            // It never announced its listeners: stop it and remove what it was given, then report the failure.
            await process.DisposeAsync();
            if (owns)
            {
                Directory.Delete(stateDirectory, recursive: true);
            }

            throw;
        }
    }

    /// <summary>A client that sends every request through this sidecar's outbound listener, as the app does with HTTP_PROXY.</summary>
    public HttpClient OutboundClient() =>
        new(new HttpClientHandler { Proxy = new WebProxy(Outbound), UseProxy = true }) { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Calls <paramref name="url"/> through the outbound listener until it answers 200 (routes and endpoints
    /// arrive with snapshots), within <paramref name="deadline"/>; returns that answer's body.</summary>
    public async Task<string> GetUntilOkAsync(Uri url, TimeSpan deadline, CancellationToken cancellationToken)
    {
        using var client = OutboundClient();
        var body = "";
        await Eventually.UntilAsync(async () =>
        {
            using var response = await client.GetAsync(url, cancellationToken);
            body = await response.Content.ReadAsStringAsync(cancellationToken);
            return response.StatusCode == HttpStatusCode.OK;
        }, deadline, () => $"{url} through the sidecar's outbound listener ({Outbound}) to answer 200 (last: {body})");
        return body;
    }

    public async Task<HttpStatusCode> ReadyStatusAsync()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(Admin, "ready"));
        return response.StatusCode;
    }

    /// <summary>
    /// The sidecar's runtime counters (<c>GET /debug/runtime</c>: allocations, GC, thread-pool work items, --io mode),
    /// over one kept connection, so that polling them adds no connections to what is measured.
    /// </summary>
    public async Task<System.Text.Json.JsonDocument> RuntimeAsync() =>
        System.Text.Json.JsonDocument.Parse(await _admin.GetStringAsync(new Uri(Admin, "debug/runtime")));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _admin.Dispose();
        await Process.DisposeAsync();
        if (_ownsStateDirectory)
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
    }
}
