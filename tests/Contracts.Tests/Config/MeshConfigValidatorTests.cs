using AspireMesh.Contracts.Config;

namespace AspireMesh.Contracts.Tests.Config;

public sealed class MeshConfigValidatorTests
{
    private static HttpRouteConfig Route(string name, string backend, string gateway = "gateway", int weight = 1, string type = "PathPrefix", string path = "/") => new()
    {
        Name = name,
        ParentRefs = [new() { Name = gateway }],
        Rules = [new() { Matches = [new() { Path = new() { Type = type, Value = path } }], BackendRefs = [new() { Name = backend, Weight = weight }] }],
    };

    [Fact]
    public void Validate_ValidConfig_NoErrors()
    {
        var config = new MeshConfig
        {
            Services = [new() { Name = "frontend", References = ["catalog"] }, new() { Name = "catalog" }],
            Routes = [Route("web", "frontend")],
        };

        Assert.Empty(MeshConfigValidator.Validate(config));
    }

    [Fact]
    public void Validate_ManyProblems_ReportsEachWithItsPath()
    {
        var config = new MeshConfig
        {
            Services = [new() { Name = "catalog" }, new() { Name = "catalog" }, new() { Name = "Bad_Name" }, new() { Name = "frontend", References = ["payments"] }],
            Routes =
            [
                Route("web", "frontend"),
                Route("web", "inventory", type: "Regex", path: "api"),
                Route("zero", "frontend", weight: 0, path: "/zero"),
                new() { Name = "", Rules = [] },
            ],
        };

        var errors = MeshConfigValidator.Validate(config).Select(e => e.ToString()).ToList();

        Assert.Equal(
        [
            "services[1].name: service 'catalog' is declared more than once.",
            "services[2].name: 'Bad_Name' is not a valid service name: use 1-63 lower-case letters, digits or '-', starting with a letter.",
            "services[3].references[0]: service 'frontend' references 'payments', which is not a declared service.",
            "routes[1].name: route 'web' is declared more than once.",
            "routes[1].rules[0].matches[0].path.type: 'Regex' is not a path match type; use Exact, PathPrefix or RegularExpression.",
            "routes[1].rules[0].backendRefs[0].name: 'inventory' is not a declared service.",
            "routes[2].rules[0].backendRefs: the backend weights sum to 0, so no request could be sent anywhere.",
            "routes[3].name: a route needs a name.",
            "routes[3].parentRefs: a route must attach to at least one gateway or service.",
            "routes[3].rules: a route needs at least one rule.",
        ], errors);
    }

    [Fact]
    public void Validate_GatewayNameNotADnsLabel_ErrorAtTheParentRef()
    {
        // A gateway's name is part of its mesh identity: the control plane issues one for DNS labels only.
        var config = new MeshConfig { Services = [new() { Name = "frontend" }], Routes = [Route("web", "frontend", gateway: "Public_GW")] };

        Assert.Equal(["routes[0].parentRefs[0].name: 'Public_GW' is not a gateway name (1-63 lower-case letters, digits or '-', starting with a letter)."],
            MeshConfigValidator.Validate(config).Select(e => e.ToString()));
    }

    [Theory]
    [InlineData("catalog", true)]
    [InlineData("catalog-2", true)]
    [InlineData("a", true)]
    [InlineData("Catalog", false)]
    [InlineData("2catalog", false)]
    [InlineData("catalog-", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsDnsLabel_Name_MatchesRfc1123Label(string? name, bool expected) =>
        Assert.Equal(expected, MeshConfigValidator.IsDnsLabel(name));
}

public sealed class MeshConfigValidatorRuleTests
{
    private static readonly ServiceConfig[] Services = [new() { Name = "frontend" }, new() { Name = "catalog" }];

    private static IReadOnlyList<string> Errors(HttpRouteRule rule, PoliciesConfig? policies = null, IReadOnlyList<string>? hostnames = null) =>
        [.. MeshConfigValidator.Validate(new MeshConfig
        {
            Services = Services,
            Routes = [new() { Name = "r", ParentRefs = [new() { Name = "gateway" }], Hostnames = hostnames ?? [], Rules = [rule] }],
            Policies = policies ?? new(),
        }).Select(e => e.ToString())];

    private static HttpRouteRule ToCatalog(params HttpRouteMatch[] matches) => new() { Matches = matches, BackendRefs = [new() { Name = "catalog" }] };

    [Fact]
    public void Validate_InvalidRegexes_ReportedWithTheParserReason()
    {
        var errors = Errors(ToCatalog(new HttpRouteMatch
        {
            Path = new() { Type = "RegularExpression", Value = "^/api/(v1" },
            Headers = [new() { Name = "x-version", Type = "RegularExpression", Value = "[0-9" }],
        }));

        Assert.Equal(2, errors.Count);
        Assert.StartsWith("routes[0].rules[0].matches[0].path.value: '^/api/(v1' is not a valid regular expression:", errors[0], StringComparison.Ordinal);
        Assert.StartsWith("routes[0].rules[0].matches[0].headers[0].value: '[0-9' is not a valid regular expression:", errors[1], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0s", "'0s' must be longer than zero.")]
    [InlineData("-5s", "'-5s' is not a duration such as 10s, 250ms or 1m30s.")]
    [InlineData("ten seconds", "'ten seconds' is not a duration such as 10s, 250ms or 1m30s.")]
    public void Validate_BadTimeout_Refused(string timeout, string message) =>
        Assert.Equal([$"routes[0].rules[0].timeouts.request: {message}"], Errors(ToCatalog() with { Timeouts = new() { Request = timeout } }));

    [Fact]
    public void Validate_PerTryTimeoutLongerThanRequest_Refused() =>
        Assert.Equal(["routes[0].rules[0].timeouts.backendRequest: 5s is longer than the whole request's timeout (1s)."],
            Errors(ToCatalog() with { Timeouts = new() { Request = "1s", BackendRequest = "5s" } }));

    [Fact]
    public void Validate_WeightsSumToZeroAndNegative_BothReported() =>
        Assert.Equal(
        [
            "routes[0].rules[0].backendRefs[0].weight: weight -1 is outside 0-1000000.",
            "routes[0].rules[0].backendRefs: the backend weights sum to 0, so no request could be sent anywhere.",
        ], Errors(new HttpRouteRule { BackendRefs = [new() { Name = "catalog", Weight = -1 }, new() { Name = "frontend", Weight = 0 }] }));

    [Fact]
    public void Validate_SameMatchTwiceOnOneGateway_ConflictNamesTheFirst()
    {
        var errors = MeshConfigValidator.Validate(new MeshConfig
        {
            Services = Services,
            Routes =
            [
                new() { Name = "a", ParentRefs = [new() { Name = "gateway" }], Rules = [ToCatalog(new HttpRouteMatch { Path = new() { Value = "/api" } })] },
                new() { Name = "b", ParentRefs = [new() { Name = "gateway" }], Rules = [ToCatalog(new HttpRouteMatch { Path = new() { Value = "/api" } })] },
                new() { Name = "c", ParentRefs = [new() { Name = "gateway" }], Hostnames = ["shop.example.com"], Rules = [ToCatalog(new HttpRouteMatch { Path = new() { Value = "/api" } })] },
            ],
        }).Select(e => e.ToString());

        Assert.Equal(["routes[1].rules[0].matches[0]: conflicts with routes[0].rules[0].matches[0]: both match the same requests on gateway 'gateway'."], errors);
    }

    [Fact]
    public void Validate_FilterMisconfigurations_EachReported()
    {
        var rule = new HttpRouteRule
        {
            Matches = [new() { Path = new() { Type = "Exact", Value = "/old" } }],
            Filters =
            [
                new() { Type = "RequestRedirect", RequestRedirect = new() { Scheme = "ftp", StatusCode = 200, Path = new() { Type = "ReplacePrefixMatch", ReplacePrefixMatch = "/new" } } },
                new() { Type = "RequestMirror", RequestMirror = new() { BackendRef = new() { Name = "shadow" }, Percent = 150 } },
                new() { Type = "FaultInjection" },
                new() { Type = "Teleport" },
            ],
            BackendRefs = [new() { Name = "catalog" }],
        };

        Assert.Equal(
        [
            "routes[0].rules[0].filters[0].requestRedirect.scheme: 'ftp' is not http or https.",
            "routes[0].rules[0].filters[0].requestRedirect.statusCode: 200 is not a redirect status; use 301, 302, 303, 307 or 308.",
            "routes[0].rules[0].filters[0].requestRedirect.path.type: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match.",
            "routes[0].rules[0].filters[1].requestMirror.backendRef.name: 'shadow' is not a declared service.",
            "routes[0].rules[0].filters[1].requestMirror.percent: 150 is not a percentage (0-100).",
            "routes[0].rules[0].filters[2].faultInjection: a FaultInjection filter needs its 'faultInjection' settings.",
            "routes[0].rules[0].filters[3].type: 'Teleport' is not a filter type; use RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, RequestMirror, FaultInjection, CORS.",
            "routes[0].rules[0].backendRefs: a rule with a RequestRedirect answers itself; it cannot also have backends.",
        ], Errors(rule));
    }

    [Fact]
    public void Validate_CorsMisconfigurations_EachReportedWithItsPath()
    {
        var rule = new HttpRouteRule
        {
            Filters =
            [
                new()
                {
                    Type = "CORS",
                    Cors = new()
                    {
                        AllowOrigins = ["https://ok.example", "ftp://files.example", "https://*partners.example", "https://app.example/path", "https://app.example:70000", "app.example"],
                        AllowMethods = ["put"],
                        AllowHeaders = ["x ok", "*"],
                        MaxAge = 0,
                    },
                },
                new() { Type = "CORS", Cors = new() { AllowOrigins = ["*", "https://app.example"] } },
            ],
            BackendRefs = [new() { Name = "catalog" }],
        };

        Assert.Equal(
        [
            "routes[0].rules[0].filters: a rule may have one CORS filter.",
            "routes[0].rules[0].filters[0].cors.allowHeaders: '*' (any) stands alone.",
            "routes[0].rules[0].filters[0].cors.allowHeaders[0]: 'x ok' is not a header name.",
            "routes[0].rules[0].filters[0].cors.allowMethods[0]: 'put' is not an HTTP method; use GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH (upper case) or *.",
            "routes[0].rules[0].filters[0].cors.allowOrigins[1]: 'ftp://files.example' has the scheme 'ftp'; an origin is http:// or https://.",
            "routes[0].rules[0].filters[0].cors.allowOrigins[2]: 'https://*partners.example' has a '*' that is not a whole label (write *.example.com).",
            "routes[0].rules[0].filters[0].cors.allowOrigins[3]: 'https://app.example/path' has more than scheme://host[:port] (a path, a query or user information).",
            "routes[0].rules[0].filters[0].cors.allowOrigins[4]: 'https://app.example:70000' has the port '70000'; a port is 1-65535.",
            "routes[0].rules[0].filters[0].cors.allowOrigins[5]: 'app.example' is not an origin (scheme://host[:port]).",
            "routes[0].rules[0].filters[0].cors.maxAge: 0 is not a number of seconds (1 or more).",
            "routes[0].rules[0].filters[1].cors.allowOrigins: '*' (any) stands alone.",
        ], Errors(rule).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Validate_CorsOnARouteOfAService_RefusedWithTheReason()
    {
        var errors = MeshConfigValidator.Validate(new MeshConfig
        {
            Services = Services,
            Routes =
            [
                new()
                {
                    Name = "east-west", ParentRefs = [new() { Kind = "Service", Name = "catalog" }],
                    Rules = [new() { Filters = [new() { Type = "CORS", Cors = new() { AllowOrigins = ["*"] } }], BackendRefs = [new() { Name = "catalog" }] }],
                },
            ],
        }).Select(e => e.ToString());

        Assert.Equal(["routes[0].rules[0].filters[0]: a CORS filter applies where browsers call: on a route attached to gateways only, not to a service."], errors);
    }

    [Fact]
    public void Validate_PolicyProblems_EachReportedWithItsPath()
    {
        var policies = new PoliciesConfig
        {
            Backends =
            [
                new() { Name = "lb", TargetRef = new() { Name = "catalog" }, LoadBalancer = new() { Type = "ConsistentHash" }, HealthCheck = new() { Interval = "1s", Timeout = "2s" } },
                new() { Name = "lb2", TargetRef = new() { Name = "catalog" }, LoadBalancer = new() { Type = "Fastest" } },
            ],
            RateLimits = [new() { Name = "rl", TargetRef = new() { Kind = "Route", Name = "nope" }, Requests = 0 }],
            Authorization = [new() { Name = "authz", TargetRef = new() { Name = "catalog" }, Action = "Maybe", Rules = [new() { FromServices = ["ghost"], FromPrincipals = ["catalog"] }] }],
            Egress = [new() { Name = "eg", Hosts = ["bad host"], Port = 0 }],
        };

        Assert.Equal(
        [
            "policies.backends[0].loadBalancer: ConsistentHash needs exactly one of hashHeader or hashCookie.",
            "policies.backends[0].healthCheck.timeout: 2s is longer than the interval (1s).",
            "policies.backends[1].targetRef: service 'catalog' already has a backend policy (policies.backends[0]).",
            "policies.backends[1].loadBalancer.type: 'Fastest' is not a load balancer; use RoundRobin, LeastRequest, PowerOfTwoChoices, ConsistentHash.",
            "policies.rateLimits[0].targetRef.name: 'nope' is not a declared route.",
            "policies.rateLimits[0].requests: 0 is less than 1.",
            "policies.authorization[0].action: 'Maybe' is not Allow or Deny.",
            "policies.authorization[0].rules[0].fromServices[0]: 'ghost' is not a declared service.",
            "policies.authorization[0].rules[0].fromPrincipals[0]: 'catalog' is not a SPIFFE ID (spiffe://trust-domain/ns/namespace/sa/service).",
            "policies.egress[0].hosts[0]: 'bad host' is not a host name (a leading '*.' is allowed).",
            "policies.egress[0].port: 0 is not a port (1-65535).",
        ], Errors(ToCatalog(), policies));
    }

    [Fact]
    public void Validate_AuthorizationRuleProblems_EachReportedWithItsPath()
    {
        var policies = new PoliciesConfig
        {
            Authorization =
            [
                new()
                {
                    Name = "rules", TargetRef = new() { Name = "catalog" }, Mode = "DryRun",
                    Rules =
                    [
                        new()
                        {
                            FromServices = ["gateway/Bad", "gateway/edge"],
                            FromPrincipals = ["spiffe://mesh/ns/*/sa/frontend", "spiffe://mesh/ns/default/sa/*"],
                            Paths = ["/api/*/items", "/api/*"],
                            Methods = ["get"],
                            Headers = [new() { Name = "x-user", Type = "RegularExpression", Value = "(" }],
                        },
                    ],
                },
                new() { Name = "deny-nothing", TargetRef = new() { Name = "catalog" }, Action = "Deny" },
                new() { Name = "allow-nothing", TargetRef = new() { Name = "catalog" }, Action = "Allow" },
            ],
        };

        var errors = Errors(ToCatalog(), policies);

        Assert.Equal(
        [
            "policies.authorization[0].mode: 'DryRun' is not Enforce or Audit.",
            "policies.authorization[0].rules[0].fromServices[0]: 'gateway/Bad' is not gateway/<name> with a valid gateway name.",
            "policies.authorization[0].rules[0].fromPrincipals[0]: 'spiffe://mesh/ns/*/sa/frontend' has a '*' before its end; only a trailing '*' (any suffix) is supported.",
            "policies.authorization[0].rules[0].paths[0]: '/api/*/items' has a '*' before its end; write an exact path or a prefix ending in '*'.",
            "policies.authorization[0].rules[0].methods[0]: 'get' is not an HTTP method; use one of GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH (upper case).",
            "policies.authorization[1].rules: a Deny policy without rules matches no request, so it would deny nothing; add a rule ({} matches every request).",
        ], errors.Where(e => !e.Contains("headers[0].value", StringComparison.Ordinal)));
        Assert.Contains(errors, e => e.StartsWith("policies.authorization[0].rules[0].headers[0].value: '(' is not a valid regular expression", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_EgressCaCertificateProblems_EachReportedWithItsPath()
    {
        var policies = new PoliciesConfig
        {
            Egress =
            [
                new() { Name = "garbled", Hosts = ["api.example.com"], CaCertificate = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----" },
                new() { Name = "relative", Hosts = ["api.example.com"], CaCertificate = "certs/ca.pem" },
                new() { Name = "plain", Hosts = ["api.example.com"], Tls = "None", Port = 80, CaCertificate = "/etc/ssl/ca.pem" },
                new() { Name = "fine", Hosts = ["*.example.com"], CaCertificate = "/etc/ssl/ca.pem" },
            ],
        };

        var errors = Errors(ToCatalog(), policies);

        Assert.Equal(3, errors.Count);
        Assert.StartsWith("policies.egress[0].caCertificate: the PEM text holds no usable certificate: ", errors[0], StringComparison.Ordinal);
        Assert.Equal("policies.egress[1].caCertificate: 'certs/ca.pem' is neither PEM text (-----BEGIN CERTIFICATE-----) nor an absolute path to a PEM file.", errors[1]);
        Assert.Equal("policies.egress[2].caCertificate: a CA certificate is used to check the hosts' certificates when the mesh originates TLS; it needs tls: Originate, not None.", errors[2]);
    }

    [Fact]
    public void Validate_EgressCaCertificateValidPem_NoErrors()
    {
        using var key = System.Security.Cryptography.ECDsa.Create();
        using var certificate = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test-ca", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        var policies = new PoliciesConfig { Egress = [new() { Name = "pem", Hosts = ["api.example.com"], CaCertificate = certificate.ExportCertificatePem() }] };

        Assert.Empty(Errors(ToCatalog(), policies));
    }
}
