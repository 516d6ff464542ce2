using AspireMesh.Contracts.Config;
using AspireMesh.ProxyEngine.Security;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Tests.Security;

/// <summary>Authorization decisions on requests as ASP.NET Core presents them, with the caller's identity as MeshPeer gives it.</summary>
public sealed class AuthorizationTableTests
{
    private static AuthorizationTable Compile(params AuthorizationPolicy[] policies)
    {
        var errors = new List<string>();
        var table = AuthorizationTable.Compile(policies, errors);
        Assert.Empty(errors);
        return table;
    }

    private static AuthorizationPolicy Policy(string name, string action, string mode, params AuthorizationRule[] rules) =>
        new() { Name = name, TargetRef = new() { Name = "catalog" }, Action = action, Mode = mode, Rules = rules };

    private static AuthorizationDecision Decide(AuthorizationTable table, MeshPeer peer, string method = "GET", string path = "/items", string? header = null)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Path = path;
        if (header is not null)
        {
            context.Request.Headers["x-tenant"] = header;
        }

        MeshPeerIdentity.Set(context, peer);
        return table.Evaluate(context.Request, MeshPeerIdentity.Of(context));
    }

    private static readonly MeshPeer Frontend = new("frontend", "spiffe://mesh.local/ns/default/sa/frontend", Verified: true);

    [Fact]
    public void FromPrincipals_ExactAndTrailingWildcard_MatchOnlyProvedIdentities()
    {
        var table = Compile(Policy("by-identity", "Allow", "Enforce",
            new AuthorizationRule { FromPrincipals = ["spiffe://mesh.local/ns/default/sa/frontend"] },
            new AuthorizationRule { FromPrincipals = ["spiffe://mesh.local/ns/ops/*"] }));

        Assert.Equal(AuthorizationOutcome.Allowed, Decide(table, Frontend).Outcome);
        Assert.Equal(AuthorizationOutcome.Allowed, Decide(table, new MeshPeer("admin", "spiffe://mesh.local/ns/ops/sa/admin", true)).Outcome);
        Assert.Equal(AuthorizationOutcome.Denied, Decide(table, new MeshPeer("admin", "spiffe://mesh.local/ns/default/sa/admin", true)).Outcome);
        // A caller that only claims a name has no principal, so no principal rule can match it.
        Assert.Equal(AuthorizationOutcome.Denied, Decide(table, new MeshPeer("frontend", null, Verified: false)).Outcome);
    }

    [Fact]
    public void RuleParts_AllMustHold_AnyValueOfEach()
    {
        var table = Compile(Policy("reads", "Allow", "Enforce", new AuthorizationRule
        {
            FromServices = ["frontend", "admin"],
            Paths = ["/items", "/api/*"],
            Methods = ["GET", "HEAD"],
            Headers = [new() { Name = "x-tenant", Type = "RegularExpression", Value = "t-[0-9]+" }],
        }));

        Assert.Equal(AuthorizationOutcome.Allowed, Decide(table, Frontend, "HEAD", "/api/v1/x", "t-42").Outcome);
        Assert.Equal(AuthorizationOutcome.Denied, Decide(table, Frontend, "POST", "/items", "t-42").Outcome);
        Assert.Equal(AuthorizationOutcome.Denied, Decide(table, Frontend, "GET", "/items/1", "t-42").Outcome);
        Assert.Equal(AuthorizationOutcome.Denied, Decide(table, Frontend, "GET", "/items", "t-42x").Outcome);
        Assert.Equal(AuthorizationOutcome.Denied, Decide(table, Frontend, "GET", "/items").Outcome);
        Assert.Equal(AuthorizationOutcome.Denied, Decide(table, new MeshPeer("payments", null, false), "GET", "/items", "t-1").Outcome);
    }

    [Fact]
    public void DenyPolicy_MatchesAlongsideAllow_DenyWinsAndIsNamed()
    {
        var table = Compile(
            Policy("everyone", "Allow", "Enforce", new AuthorizationRule()),
            Policy("no-deletes", "Deny", "Enforce", new AuthorizationRule { Methods = ["DELETE"] }));

        Assert.Equal(default, Decide(table, Frontend));
        Assert.Equal(new AuthorizationDecision(AuthorizationOutcome.Denied, "no-deletes", ByDenyPolicy: true), Decide(table, Frontend, "DELETE"));
    }

    [Fact]
    public void AuditPolicies_WouldDeny_ReportedAsAuditDeniedNeverDenied()
    {
        var auditAllow = Compile(Policy("only-admin", "Allow", "Audit", new AuthorizationRule { FromServices = ["admin"] }));
        var auditDeny = Compile(Policy("no-gets", "Deny", "Audit", new AuthorizationRule { Methods = ["GET"] }));
        var enforcedAllowWithAudit = Compile(
            Policy("frontend", "Allow", "Enforce", new AuthorizationRule { FromServices = ["frontend"] }),
            Policy("only-admin", "Allow", "Audit", new AuthorizationRule { FromServices = ["admin"] }));

        Assert.Equal(new AuthorizationDecision(AuthorizationOutcome.AuditDenied, "only-admin", ByDenyPolicy: false), Decide(auditAllow, Frontend));
        Assert.Equal(new AuthorizationDecision(AuthorizationOutcome.AuditDenied, "no-gets", ByDenyPolicy: true), Decide(auditDeny, Frontend));
        Assert.Equal(AuthorizationOutcome.Allowed, Decide(auditDeny, Frontend, "POST").Outcome);
        // Enforcing one more Allow policy can only allow more: frontend stays allowed.
        Assert.Equal(AuthorizationOutcome.Allowed, Decide(enforcedAllowWithAudit, Frontend).Outcome);
    }

    [Fact]
    public void Evaluate_AllowedRequest_AllocatesNothing()
    {
        var table = Compile(
            Policy("reads", "Allow", "Enforce", new AuthorizationRule { FromServices = ["frontend"], Paths = ["/api/*"], Methods = ["GET"] }),
            Policy("no-admin", "Deny", "Enforce", new AuthorizationRule { Paths = ["/admin*"] }));
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/api/items";
        Assert.Equal(AuthorizationOutcome.Allowed, table.Evaluate(context.Request, Frontend).Outcome);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            table.Evaluate(context.Request, Frontend);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
