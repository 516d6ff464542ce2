using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.MeshProxy.Tests;

/// <summary>A control plane, two apps and their sidecars: frontend, which references catalog, and catalog, whose app answers 64 KB.</summary>
internal sealed class SidecarPair : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    public SidecarProcess Frontend { get; private set; } = null!;

    public SidecarProcess Catalog { get; private set; } = null!;

    public static async Task<SidecarPair> StartAsync(Type test, Func<ControlPlaneProcess, string, string, Uri, Task<SidecarProcess>> startSidecar)
    {
        var pair = new SidecarPair();
        try
        {
            var frontendApp = pair.Own(await TestBackend.StartAsync("frontend-app"));
            var catalogApp = pair.Own(await TestBackend.StartAsync("catalog-app"));
            var body = new string('x', 64 * 1024);
            catalogApp.Handler = context => context.Response.WriteAsync(body);
            var mesh = new MeshConfig { Services = [new ServiceConfig { Name = "frontend", References = ["catalog"] }, new ServiceConfig { Name = "catalog" }] };
            var controlPlane = pair.Own(await ControlPlaneProcess.StartAsync(test.Assembly, mesh));
            pair.Frontend = pair.Own(await startSidecar(controlPlane, "frontend", "frontend-1", frontendApp.Url));
            pair.Catalog = pair.Own(await startSidecar(controlPlane, "catalog", "catalog-1", catalogApp.Url));
            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
    }

    private T Own<T>(T resource)
        where T : IAsyncDisposable
    {
        _owned.Add(resource);
        return resource;
    }
}
