using Microsoft.AspNetCore.Http;

namespace AspireMesh.Gateway.Authentication;

/// <summary>Checks the credential of one request against one authentication policy.</summary>
internal interface IAuthenticator
{
    /// <summary>Request headers the gateway sets after authenticating; removed from every client request on the route first.</summary>
    IReadOnlyList<string> IdentityHeaders { get; }

    /// <summary>Authenticates <paramref name="context"/>'s request.</summary>
    ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context);
}

/// <summary>The verdict on a request's credential.</summary>
/// <param name="Reason">Why it was refused (null when it succeeded).</param>
/// <param name="Challenge">The <c>WWW-Authenticate</c> value when refused.</param>
/// <param name="Identity">Headers (name, value) that tell the app who the client is, when it succeeded.</param>
internal sealed record AuthenticationOutcome(string? Reason, string? Challenge, IReadOnlyList<KeyValuePair<string, string>> Identity)
{
    public bool Succeeded => Reason is null;

    public static AuthenticationOutcome Success(IReadOnlyList<KeyValuePair<string, string>> identity) => new(null, null, identity);

    public static AuthenticationOutcome Refused(string reason, string challenge) => new(reason, challenge, []);
}
