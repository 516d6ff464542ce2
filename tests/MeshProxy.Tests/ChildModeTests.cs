using AspireMesh.Hosting.Model;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>The sidecar started with "-- command": it runs the application as its child (how an instance is added by hand).</summary>
public sealed class ChildModeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Command_Started_WithPortProxyAndIdentityInItsEnvironment()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ChildModeTests).Assembly);
        // Started as the AppHost and the manifests start a sidecar: with its runtime settings.
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane.Url, "catalog", "catalog-child", null, null, SidecarRuntime.Environment, "--io", "inline",
            "--", "/bin/sh", "-c",
            "echo \"child port=$PORT urls=$ASPNETCORE_URLS proxy=$HTTP_PROXY id=$ASPIREMESH_INSTANCE_ID inline=${DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS-unset} gen0=${DOTNET_GCgen0size-unset}\"; exec sleep 600");

        var line = await sidecar.Process.WaitForLineAsync(@"^child port=(\d+) urls=(\S+) proxy=(\S+) id=(\S+) inline=(\S+) gen0=(\S+)$", Deadline);

        Assert.Equal($"http://127.0.0.1:{line.Groups[1].Value}", line.Groups[2].Value);
        Assert.Equal(sidecar.Outbound.ToString().TrimEnd('/'), line.Groups[3].Value);
        Assert.Equal("catalog-child", line.Groups[4].Value);
        // The sidecar runs its socket completions inline (--io inline); the application, which may block, keeps .NET's default.
        Assert.Equal("0", line.Groups[5].Value);
        // The sidecar's small gen0 budget is for a proxy: the application keeps the runtime's default.
        Assert.Contains(sidecar.Process.Id, ProcessTable.WithEnvironment("DOTNET_GCgen0size", SidecarRuntime.Environment["DOTNET_GCgen0size"]));
        Assert.Equal("unset", line.Groups[6].Value);
    }

    [Fact]
    public Task Command_Exits_SidecarExitsWithItsCodeAndDeregisters() =>
        AssertChildExitEndsTheSidecarAsync((controlPlane, command) => SidecarProcess.StartAsync(controlPlane, "catalog", "catalog-child", null, command));

    /// <summary>
    /// Starts a sidecar (with <paramref name="start"/>: the JIT build or the Native AOT executable) whose child reports
    /// its PORT and HTTP_PROXY, then exits with 5 when told: the sidecar exits with 5 and leaves the registry.
    /// </summary>
    internal static async Task AssertChildExitEndsTheSidecarAsync(Func<ControlPlaneProcess, string[], Task<SidecarProcess>> start)
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ChildModeTests).Assembly, null, "--ControlPlane:LeaseDuration=00:10:00");
        var release = Path.Combine(Path.GetTempPath(), $"aspiremesh-release-{Guid.NewGuid():N}");
        await using var sidecar = await start(controlPlane,
            ["--", "/bin/sh", "-c", $"echo \"child port=$PORT proxy=$HTTP_PROXY\"; while [ ! -f {release} ]; do sleep 0.05; done; exit 5"]);
        var line = await sidecar.Process.WaitForLineAsync(@"^child port=(\d+) proxy=(\S+)$", Deadline);
        Assert.Equal(sidecar.Outbound.ToString().TrimEnd('/'), line.Groups[2].Value);
        await Eventually.UntilAsync(async () => await controlPlane.HealthOfAsync("catalog-child") is not null, Deadline, "the instance to register");

        await File.WriteAllTextAsync(release, "", Cancel);

        Assert.Equal(5, await sidecar.Process.Exited.WaitAsync(Deadline, Cancel));
        Assert.Null(await controlPlane.HealthOfAsync("catalog-child"));
        File.Delete(release);
    }

    [Fact]
    public async Task Sidecar_KilledOutright_ItsChildDiesToo()
    {
        await using var controlPlane = await ControlPlaneProcess.StartAsync(typeof(ChildModeTests).Assembly);
        var marker = Guid.NewGuid().ToString("N");
        await using var sidecar = await SidecarProcess.StartAsync(controlPlane, "catalog", $"catalog-{marker[..8]}", null,
            "--", "/bin/sh", "-c", "echo child-up; exec sleep 600");
        await sidecar.Process.WaitForLineAsync("^child-up$", Deadline);
        // The shell has printed its line and is replacing itself with sleep; while the exec runs, its environment may
        // not be readable for a moment.
        await Eventually.UntilAsync(() => ProcessTable.WithEnvironment("ASPIREMESH_INSTANCE_ID", $"catalog-{marker[..8]}").Count == 1, Deadline,
            "the child to show in the process table");

        sidecar.Process.Kill();

        await Eventually.UntilAsync(() => ProcessTable.WithEnvironment("ASPIREMESH_INSTANCE_ID", $"catalog-{marker[..8]}").Count == 0, Deadline,
            "the child of the killed sidecar to exit");
    }
}
