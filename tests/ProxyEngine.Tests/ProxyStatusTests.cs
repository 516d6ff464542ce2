using AspireMesh.ProxyEngine.Admin;
using AspireMesh.ProxyEngine.Hosting;

namespace AspireMesh.ProxyEngine.Tests;

public sealed class ProxyStatusTests
{
    [Fact]
    public void New_NotReadyUntilFirstSnapshot()
    {
        var status = new ProxyStatus();

        Assert.False(status.IsReady);
        status.SnapshotApplied(3);

        Assert.True(status.IsReady);
        Assert.Equal(3, status.AppliedVersion);
        Assert.Empty(status.Reasons);
    }

    [Fact]
    public void Block_ConditionNamesTheReasonUntilUnblocked()
    {
        var status = new ProxyStatus();
        status.SnapshotApplied(1);

        status.Block("app", "app is down");

        Assert.False(status.IsReady);
        Assert.Equal(["app is down"], status.Reasons);
        status.Unblock("app");
        Assert.True(status.IsReady);
    }

    [Fact]
    public async Task ReadyOnceListening_SnapshotApplied_ReadyOnlyFromTheListenersStartUntilItStops()
    {
        var status = new ProxyStatus();
        await using var listener = ListenerHost.CreateBuilder("http://127.0.0.1:0").Build();
        listener.ReadyOnceListening(status, "public");

        status.SnapshotApplied(1);

        Assert.False(status.IsReady);
        Assert.Equal(["the public listener is not listening yet"], status.Reasons);
        await listener.StartAsync(TestContext.Current.CancellationToken);
        Assert.True(status.IsReady);
        await listener.StopAsync(TestContext.Current.CancellationToken);
        Assert.False(status.IsReady);
        Assert.Equal(["the public listener is stopping"], status.Reasons);
    }
}
