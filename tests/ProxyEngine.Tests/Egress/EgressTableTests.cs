using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine.Egress;

namespace AspireMesh.ProxyEngine.Tests.Egress;

/// <summary>Which egress policy, if any, lets this proxy's app call a host and port.</summary>
public sealed class EgressTableTests
{
    private static EgressTable Table(string service, params EgressPolicy[] policies)
    {
        var table = new EgressTable(new ProxyEngineOptions { Kind = "sidecar", Name = service, ProxyId = $"{service}-1", ControlPlane = new Uri("http://127.0.0.1:1/") });
        var errors = new List<string>();
        table.Apply(table.Compile(policies, errors));
        Assert.Empty(errors);
        return table;
    }

    [Fact]
    public void WildcardHost_MatchesSubdomainsOnly_ExactHostFirst()
    {
        var table = Table("frontend",
            new EgressPolicy { Name = "any-example", Hosts = ["*.example.com"], Port = 443 },
            new EgressPolicy { Name = "api-plain", Hosts = ["API.example.com"], Port = 8080, Tls = "None" });

        Assert.Equal("any-example", table.FindTunnel("www.example.com", 443)?.Policy);
        Assert.Equal("api-plain", table.FindTunnel("api.example.com", 8080)?.Policy);
        Assert.Equal("any-example", table.FindTunnel("api.example.com", 443)?.Policy);
        Assert.Null(table.FindTunnel("example.com", 443));
        Assert.Null(table.FindTunnel("www.example.com.evil.org", 443));
    }

    [Fact]
    public void PlainHttp_TlsOriginateAcceptsPort80AndItsPort_TunnelsOnlyItsPort()
    {
        var table = Table("frontend", new EgressPolicy { Name = "payments", Hosts = ["pay.example.com"], Port = 8443 });

        Assert.Equal("payments", table.FindHttp("pay.example.com", 80).Allowed?.Policy);
        Assert.Equal("payments", table.FindHttp("pay.example.com", 8443).Allowed?.Policy);
        Assert.Equal((null, "payments"), (table.FindHttp("pay.example.com", 9000).Allowed?.Policy, table.FindHttp("pay.example.com", 9000).OtherPort?.Policy));
        Assert.Null(table.FindTunnel("pay.example.com", 80));
    }

    [Fact]
    public void FromServices_OtherService_NotAllowed()
    {
        var policy = new EgressPolicy { Name = "payments", Hosts = ["pay.example.com"], FromServices = ["catalog"] };

        Assert.NotNull(Table("catalog", policy).FindTunnel("pay.example.com", 443));
        Assert.Null(Table("frontend", policy).FindTunnel("pay.example.com", 443));
    }
}
