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
}
