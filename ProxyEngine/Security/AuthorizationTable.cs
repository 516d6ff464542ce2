using System.Text.RegularExpressions;
using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Security;

/// <summary>
/// The authorization policies of one service, compiled once per snapshot. Evaluation follows Istio's
/// AuthorizationPolicy: a matching Deny policy denies; otherwise, when Allow policies exist, one of them must match;
/// otherwise the request is allowed. Audit policies are evaluated as if they were enforced, and a request they
/// (but not the enforced ones) would deny is reported, not refused. Evaluating allocates nothing.
/// </summary>
internal sealed class AuthorizationTable
{
    private readonly CompiledPolicy[] _deny;
    private readonly CompiledPolicy[] _allow;
    private readonly CompiledPolicy[] _auditDeny;
    private readonly CompiledPolicy[] _auditAllow;
    private readonly string _allowNames;
    private readonly string _auditAllowNames;

    private AuthorizationTable(List<CompiledPolicy> deny, List<CompiledPolicy> allow, List<CompiledPolicy> auditDeny, List<CompiledPolicy> auditAllow)
    {
        _deny = [.. deny];
        _allow = [.. allow];
        _auditDeny = [.. auditDeny];
        _auditAllow = [.. auditAllow];
        _allowNames = string.Join(',', allow.Select(p => p.Name));
        _auditAllowNames = string.Join(',', auditAllow.Select(p => p.Name));
    }

    /// <summary>No policy: every request is allowed.</summary>
    public static AuthorizationTable Empty { get; } = new([], [], [], []);

    /// <summary>Whether there is any policy to evaluate.</summary>
    public bool IsEmpty => _deny.Length + _allow.Length + _auditDeny.Length + _auditAllow.Length == 0;

    /// <summary>Compiles <paramref name="policies"/>; adds to <paramref name="errors"/> what cannot be compiled.</summary>
    public static AuthorizationTable Compile(IReadOnlyList<AuthorizationPolicy> policies, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(policies);
        if (policies.Count == 0)
        {
            return Empty;
        }

        List<CompiledPolicy> deny = [], allow = [], auditDeny = [], auditAllow = [];
        foreach (var policy in policies)
        {
            var isDeny = policy.Action == "Deny";
            if ((!isDeny && policy.Action != "Allow") || policy.Mode is not ("Enforce" or "Audit"))
            {
                errors.Add($"authorization policy '{policy.Name}': action '{policy.Action}' with mode '{policy.Mode}' is not understood.");
                continue;
            }

            try
            {
                // A Deny rule whose expression runs out of time counts as matching: failures deny, never allow.
                var compiled = new CompiledPolicy(policy.Name, [.. policy.Rules.Select(r => new CompiledRule(r, failClosed: isDeny))]);
                (isDeny ? policy.Mode == "Audit" ? auditDeny : deny : policy.Mode == "Audit" ? auditAllow : allow).Add(compiled);
            }
            catch (ArgumentException ex)
            {
                errors.Add($"authorization policy '{policy.Name}': {ex.Message}");
            }
        }

        return new AuthorizationTable(deny, allow, auditDeny, auditAllow);
    }

    /// <summary>Decides on one request from <paramref name="peer"/>.</summary>
    public AuthorizationDecision Evaluate(HttpRequest request, MeshPeer peer)
    {
        if (FirstMatch(_deny, request, peer) is { } denied)
        {
            return new AuthorizationDecision(AuthorizationOutcome.Denied, denied.Name, ByDenyPolicy: true);
        }

        var allowed = false;
        if (_allow.Length > 0)
        {
            if (FirstMatch(_allow, request, peer) is null)
            {
                return new AuthorizationDecision(AuthorizationOutcome.Denied, _allowNames, ByDenyPolicy: false);
            }

            allowed = true;
        }

        // What enforcing the audited policies would change.
        if (FirstMatch(_auditDeny, request, peer) is { } auditDenied)
        {
            return new AuthorizationDecision(AuthorizationOutcome.AuditDenied, auditDenied.Name, ByDenyPolicy: true);
        }

        if (!allowed && _auditAllow.Length > 0 && FirstMatch(_auditAllow, request, peer) is null)
        {
            return new AuthorizationDecision(AuthorizationOutcome.AuditDenied, _auditAllowNames, ByDenyPolicy: false);
        }

        return default;
    }

    private static CompiledPolicy? FirstMatch(CompiledPolicy[] policies, HttpRequest request, MeshPeer peer)
    {
        foreach (var policy in policies)
        {
            foreach (var rule in policy.Rules)
            {
                if (rule.Matches(request, peer))
                {
                    return policy;
                }
            }
        }

        return null;
    }

    private sealed record CompiledPolicy(string Name, CompiledRule[] Rules);

    /// <summary>One rule: each part given must hold; within a part, any value.</summary>
    private sealed class CompiledRule
    {
        private readonly string[]? _services;
        private readonly string[]? _principals;
        private readonly string[]? _principalPrefixes;
        private readonly string[]? _users;
        private readonly string[]? _userPrefixes;
        private readonly string[]? _paths;
        private readonly string[]? _pathPrefixes;
        private readonly string[]? _methods;
        private readonly HeaderCondition[] _headers;

        public CompiledRule(AuthorizationRule rule, bool failClosed)
        {
            _services = NullIfEmpty(rule.FromServices);
            (_principals, _principalPrefixes) = Split(rule.FromPrincipals);
            (_users, _userPrefixes) = Split(rule.RequestPrincipals);
            (_paths, _pathPrefixes) = Split(rule.Paths);
            _methods = NullIfEmpty(rule.Methods);
            _headers = [.. rule.Headers.Select(h => new HeaderCondition(h, failClosed))];
        }

        public bool Matches(HttpRequest request, MeshPeer peer)
        {
            if (_services is not null && Array.IndexOf(_services, peer.Service) < 0)
            {
                return false;
            }

            if ((_principals ?? _principalPrefixes) is not null && !AnyOf(peer.Principal, _principals, _principalPrefixes))
            {
                return false;
            }

            if ((_users ?? _userPrefixes) is not null && !AnyOf(Authentication.RequestPrincipal.Of(request.HttpContext), _users, _userPrefixes))
            {
                return false;
            }

            if ((_paths ?? _pathPrefixes) is not null && !AnyOf(request.Path.Value ?? "/", _paths, _pathPrefixes))
            {
                return false;
            }

            if (_methods is not null && Array.IndexOf(_methods, request.Method) < 0)
            {
                return false;
            }

            foreach (var header in _headers)
            {
                if (!header.Matches(request.Headers))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Whether <paramref name="value"/> equals one of <paramref name="exact"/> or starts with one of <paramref name="prefixes"/>.</summary>
        private static bool AnyOf(string? value, string[]? exact, string[]? prefixes)
        {
            if (value is null)
            {
                return false;
            }

            if (exact is not null && Array.IndexOf(exact, value) >= 0)
            {
                return true;
            }

            if (prefixes is not null)
            {
                foreach (var prefix in prefixes)
                {
                    if (value.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        return true;
                    }
                }
            }

            return false;
        }

        private static string[]? NullIfEmpty(IReadOnlyList<string> values) => values.Count == 0 ? null : [.. values];

        /// <summary>Exact values, and the prefixes of values ending in '*'.</summary>
        private static (string[]? Exact, string[]? Prefixes) Split(IReadOnlyList<string> values)
        {
            var exact = values.Where(v => !v.EndsWith('*')).ToArray();
            var prefixes = values.Where(v => v.EndsWith('*')).Select(v => v[..^1]).ToArray();
            return (exact.Length == 0 ? null : exact, prefixes.Length == 0 ? null : prefixes);
        }
    }

    /// <summary>A header that must be present with a value equal to, or wholly matching, the given one.</summary>
    private sealed class HeaderCondition
    {
        private readonly string _name;
        private readonly string? _exact;
        private readonly Regex? _regex;
        private readonly bool _failClosed;

        public HeaderCondition(HttpValueMatch match, bool failClosed)
        {
            _name = match.Name;
            _failClosed = failClosed;
            if (match.Type == MatchTypes.RegularExpression)
            {
                _regex = new Regex($"^(?:{match.Value})$", RegexOptions.CultureInvariant | RegexOptions.Compiled, TimeSpan.FromMilliseconds(50));
            }
            else
            {
                _exact = match.Value;
            }
        }

        public bool Matches(IHeaderDictionary headers)
        {
            var values = headers[_name];
            foreach (var value in values)
            {
                if (value is null)
                {
                    continue;
                }

                if (_exact is not null)
                {
                    if (string.Equals(value, _exact, StringComparison.Ordinal))
                    {
                        return true;
                    }
                }
                else
                {
                    try
                    {
                        if (_regex!.IsMatch(value))
                        {
                            return true;
                        }
                    }
                    catch (RegexMatchTimeoutException)
                    {
                        return _failClosed;
                    }
                }
            }

            return false;
        }
    }
}

/// <summary>What authorization decided on a request.</summary>
internal enum AuthorizationOutcome
{
    /// <summary>Allowed (also by every audited policy).</summary>
    Allowed,

    /// <summary>Refused by an enforced policy.</summary>
    Denied,

    /// <summary>Allowed, but an audited policy would have refused it.</summary>
    AuditDenied,
}

/// <summary>An authorization decision and the policy (or Allow policies) behind it.</summary>
/// <param name="Outcome">Allowed, denied, or allowed with an audit denial.</param>
/// <param name="Policies">The Deny policy that matched, or the Allow policies none of which matched (comma-separated).</param>
/// <param name="ByDenyPolicy">True when a Deny policy matched; false when no Allow policy did.</param>
internal readonly record struct AuthorizationDecision(AuthorizationOutcome Outcome, string Policies, bool ByDenyPolicy);
