using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Tests.State;

public sealed class MeshStateStoreTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WaitForChangeAsync_StateDiffersFromKnown_ReturnsAtOnce()
    {
        var store = new MeshStateStore();
        var old = store.Current.Version;
        store.SetConfig(new MeshConfig(), 1);

        var state = await store.WaitForChangeAsync(old, TimeSpan.FromMinutes(1), Cancel);

        Assert.Equal(old + 1, state!.Version);
    }

    [Fact]
    public async Task WaitForChangeAsync_VersionFromAnotherControlPlaneRun_ReturnsAtOnce()
    {
        var store = new MeshStateStore();

        var state = await store.WaitForChangeAsync(store.Current.Version + 1000, TimeSpan.FromMinutes(1), Cancel);

        Assert.Equal(store.Current.Version, state!.Version);
    }

    [Fact]
    public void New_Versions_StartFromTheClockSoRestartsNeverReuseThem()
    {
        var time = new ManualTimeProvider();

        Assert.Equal(time.GetUtcNow().ToUnixTimeMilliseconds(), new MeshStateStore(TimeSpan.Zero, time).Current.Version);
    }

    [Fact]
    public async Task WaitForChangeAsync_ChangeArrives_WakesWithNewState()
    {
        var store = new MeshStateStore();
        var version = store.Current.Version;
        var waiting = store.WaitForChangeAsync(version, TimeSpan.FromMinutes(1), Cancel);
        Assert.False(waiting.IsCompleted);

        store.SetConfig(new MeshConfig { Services = [new ServiceConfig { Name = "catalog" }] }, 3);

        var state = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Equal(version + 1, state!.Version);
        Assert.Equal(3, state.ConfigVersion);
        Assert.Equal(["catalog"], state.ServiceNames);
    }

    [Fact]
    public async Task WaitForChangeAsync_BurstOfChanges_WakesOnceAfterDebounceWithTheLast()
    {
        var time = new ManualTimeProvider();
        var store = new MeshStateStore(TimeSpan.FromMilliseconds(50), time);
        var version = store.Current.Version;
        var waiting = store.WaitForChangeAsync(version, TimeSpan.FromMinutes(1), Cancel);

        for (var i = 1; i <= 5; i++)
        {
            store.SetConfig(new MeshConfig(), i);
        }

        Assert.False(waiting.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(50));

        var state = await waiting.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Equal(version + 5, state!.Version);
        Assert.Equal(5, state.ConfigVersion);
    }

    [Fact]
    public async Task WaitForChangeAsync_NoChangeBeforeTimeout_ReturnsNull()
    {
        var time = new ManualTimeProvider();
        var store = new MeshStateStore(TimeSpan.Zero, time);
        var waiting = store.WaitForChangeAsync(store.Current.Version, TimeSpan.FromSeconds(30), Cancel);

        time.Advance(TimeSpan.FromSeconds(31));

        Assert.Null(await waiting.WaitAsync(TimeSpan.FromSeconds(10), Cancel));
    }
}
