using AspireMesh.Contracts.Config;
using AspireMesh.ControlPlane.State;

namespace AspireMesh.ControlPlane.Tests.State;

public sealed class MeshStateStoreTests
{
    [Fact]
    public async Task WaitForNewerAsync_StateAlreadyNewer_ReturnsAtOnce()
    {
        var store = new MeshStateStore();
        store.SetConfig(new MeshConfig());

        var state = await store.WaitForNewerAsync(1, TimeSpan.FromMinutes(1), TimeProvider.System, TestContext.Current.CancellationToken);

        Assert.NotNull(state);
        Assert.Equal(2, state.Version);
    }

    [Fact]
    public async Task WaitForNewerAsync_ChangeArrives_WakesWithNewState()
    {
        var store = new MeshStateStore();
        var version = store.Current.Version;
        var waiting = store.WaitForNewerAsync(version, TimeSpan.FromMinutes(1), TimeProvider.System, TestContext.Current.CancellationToken);
        Assert.False(waiting.IsCompleted);

        store.SetConfig(new MeshConfig { Services = [new ServiceConfig { Name = "catalog" }] });

        var state = await waiting.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(version + 1, state!.Version);
        Assert.Equal(["catalog"], state.ServiceNames);
    }

    [Fact]
    public async Task WaitForNewerAsync_NoChangeBeforeTimeout_ReturnsNull()
    {
        var time = new ManualTimeProvider();
        var store = new MeshStateStore();
        var waiting = store.WaitForNewerAsync(store.Current.Version, TimeSpan.FromSeconds(30), time, TestContext.Current.CancellationToken);

        time.Advance(TimeSpan.FromSeconds(31));

        Assert.Null(await waiting.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }
}
