using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Authentication;

/// <summary>Checks the credential of one request against one authentication policy.</summary>
public interface IAuthenticator
{
    /// <summary>Request headers the proxy sets after authenticating; removed from every request it authenticates first.</summary>
    IReadOnlyList<string> IdentityHeaders { get; }

    /// <summary>Authenticates <paramref name="context"/>'s request.</summary>
    ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context);
}

/// <summary>The verdict on a request's credential.</summary>
/// <param name="Reason">Why it was refused (null when it succeeded).</param>
/// <param name="Challenge">The <c>WWW-Authenticate</c> value when refused.</param>
/// <param name="Identity">Headers (name, value) that tell the app who the client is, when it succeeded.</param>
public sealed record AuthenticationOutcome(string? Reason, string? Challenge, IReadOnlyList<KeyValuePair<string, string>> Identity)
{
    /// <summary>For an accepted JWT: <c>iss/sub</c>, which authorization rules match (<c>requestPrincipals</c>); null otherwise.</summary>
    public string? Principal { get; init; }

    /// <summary>Whether the credential was accepted.</summary>
    public bool Succeeded => Reason is null;

    /// <summary>An accepted credential and the headers that tell the app who the client is.</summary>
    public static AuthenticationOutcome Success(IReadOnlyList<KeyValuePair<string, string>> identity) => new(null, null, identity);

    /// <summary>A refused credential: why, and the challenge to answer with.</summary>
    public static AuthenticationOutcome Refused(string reason, string challenge) => new(reason, challenge, []);
}
