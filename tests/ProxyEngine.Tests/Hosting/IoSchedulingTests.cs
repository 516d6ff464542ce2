using System.Net;
using AspireMesh.ProxyEngine.Hosting;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace AspireMesh.ProxyEngine.Tests.Hosting;

/// <summary>Which listeners run their requests inline under each <c>--io</c> mode.</summary>
public sealed class IoSchedulingTests
{
    [Fact]
    public void Auto_OnlyListenersThatPreferInline_RunInline()
    {
        var kestrel = new KestrelServerOptions();
        ListenOptions? plain = null, tls = null;
        kestrel.Listen(IPAddress.Loopback, 0, listen => plain = listen.PreferInline());
        kestrel.Listen(IPAddress.Loopback, 0, listen => tls = listen);

        Assert.True(IoScheduling.RunsInline(IoMode.Auto, kestrel, plain!.EndPoint));
        Assert.False(IoScheduling.RunsInline(IoMode.Auto, kestrel, tls!.EndPoint));
    }

    [Fact]
    public void PoolAndInline_ApplyToEveryListener()
    {
        var kestrel = new KestrelServerOptions();
        ListenOptions? preferring = null, other = null;
        kestrel.Listen(IPAddress.Loopback, 0, listen => preferring = listen.PreferInline());
        kestrel.Listen(IPAddress.Loopback, 0, listen => other = listen);

        Assert.Equal([false, false], new[] { preferring!, other! }.Select(l => IoScheduling.RunsInline(IoMode.Pool, kestrel, l.EndPoint)));
        Assert.Equal([true, true], new[] { preferring!, other! }.Select(l => IoScheduling.RunsInline(IoMode.Inline, kestrel, l.EndPoint)));
    }

    /// <summary>Kestrel binds a localhost listener as 127.0.0.1 and ::1; other addresses of the same port are other listeners.</summary>
    [Fact]
    public void Auto_LocalhostListener_BothLoopbacksOnly()
    {
        var kestrel = new KestrelServerOptions();
        kestrel.ListenLocalhost(40123, listen => listen.PreferInline());
        kestrel.ListenLocalhost(40125);

        Assert.True(IoScheduling.RunsInline(IoMode.Auto, kestrel, new IPEndPoint(IPAddress.Loopback, 40123)));
        Assert.True(IoScheduling.RunsInline(IoMode.Auto, kestrel, new IPEndPoint(IPAddress.IPv6Loopback, 40123)));
        Assert.False(IoScheduling.RunsInline(IoMode.Auto, kestrel, new IPEndPoint(IPAddress.Parse("127.0.0.2"), 40123)));
        Assert.False(IoScheduling.RunsInline(IoMode.Auto, kestrel, new IPEndPoint(IPAddress.Loopback, 40125)));
    }

    /// <summary>
    /// Through a real Kestrel server: the transport binds the listener that prefers inline (localhost, so both
    /// loopbacks) inline and the other one on the pool.
    /// </summary>
    [Fact]
    public async Task Auto_KestrelBindsEachListenerWithItsScheduling()
    {
        // Bound later, and on ::1 too: a port no outgoing connection of another test can take meanwhile.
        var port = Ports.FreeBelowEphemeral();
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenLocalhost(port, listen => listen.PreferInline());
            kestrel.Listen(IPAddress.Loopback, 0);
        });
        ListenerHost.AddScheduledSockets(builder.Services, IoMode.Auto);
        await using var app = builder.Build();
        await app.StartAsync(TestContext.Current.CancellationToken);

        var bound = app.Services.GetRequiredService<ScheduledSocketTransport>().Bound.ToList();

        // On Linux (x86-64, Arm64) on the proxy's own epoll loops.
        var ownLoops = AspireMesh.ProxyEngine.Hosting.Epoll.EpollNative.Supported;
        Assert.Contains((new IPEndPoint(IPAddress.Loopback, port), true, ownLoops), bound.Select(b => ((IPEndPoint)b.EndPoint, b.Inline, b.OwnLoops)));
        Assert.Contains((new IPEndPoint(IPAddress.IPv6Loopback, port), true, ownLoops), bound.Select(b => ((IPEndPoint)b.EndPoint, b.Inline, b.OwnLoops)));
        Assert.Contains(bound, b => b.EndPoint is IPEndPoint { Port: 0 } && !b.Inline && !b.OwnLoops);
        Assert.Equal(3, bound.Count);
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>A process runs several listeners (each its own Kestrel server); one's choice is not another's.</summary>
    [Fact]
    public void Auto_AnotherServersListenerOnTheSamePort_NotInline()
    {
        var preferring = new KestrelServerOptions();
        var other = new KestrelServerOptions();
        preferring.Listen(IPAddress.Loopback, 40126, listen => listen.PreferInline());

        Assert.True(IoScheduling.RunsInline(IoMode.Auto, preferring, new IPEndPoint(IPAddress.Loopback, 40126)));
        Assert.False(IoScheduling.RunsInline(IoMode.Auto, other, new IPEndPoint(IPAddress.Loopback, 40126)));
    }

    [Theory]
    [InlineData("pool", IoMode.Pool)]
    [InlineData("inline", IoMode.Inline)]
    [InlineData("auto", IoMode.Auto)]
    public void Parse_EachName_ItsModeAndBack(string name, IoMode mode)
    {
        Assert.Equal(mode, IoScheduling.Parse(name));
        Assert.Equal(name, IoScheduling.Name(mode));
    }

    [Fact]
    public void Parse_UnknownName_SaysWhatIsAccepted()
    {
        var error = Assert.Throws<ArgumentException>(() => IoScheduling.Parse("fast"));
        Assert.StartsWith("--io takes pool, inline or auto, not 'fast'.", error.Message, StringComparison.Ordinal);
    }
}
