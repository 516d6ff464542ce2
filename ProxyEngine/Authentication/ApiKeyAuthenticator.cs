using System.Security.Cryptography;
using System.Text;
using AspireMesh.Contracts.Config;
using Microsoft.AspNetCore.Http;

namespace AspireMesh.ProxyEngine.Authentication;

/// <summary>
/// Accepts a request whose API-key header holds a valid key: its SHA-256 is compared, in constant time, with every valid
/// hash. The key header is removed before forwarding; the app gets the key's name in <c>x-mesh-api-key</c>.
/// </summary>
internal sealed class ApiKeyAuthenticator : IAuthenticator
{
    private readonly string _header;
    private readonly (string Name, byte[] Hash)[] _keys;

    private readonly string _subject;

    /// <param name="subject">What requires the key, in messages: "this route", or the service.</param>
    public ApiKeyAuthenticator(ApiKeyAuthentication settings, Func<string, string?> environment, string subject = "this route")
    {
        _subject = subject;
        _header = settings.Header;
        var keys = settings.Keys.Select(k => (k.Name, Convert.FromHexString(k.Sha256))).ToList();
        if (settings.EnvironmentVariable is { } variable && environment(variable) is { Length: > 0 } values)
        {
            foreach (var value in values.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                keys.Add((variable, SHA256.HashData(Encoding.UTF8.GetBytes(value))));
            }
        }

        _keys = [.. keys];
        IdentityHeaders = [GatewayIdentityHeaders.ApiKeyName];
    }

    public IReadOnlyList<string> IdentityHeaders { get; }

    public ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context)
    {
        var challenge = $"ApiKey header=\"{_header}\"";
        var values = context.Request.Headers[_header];
        if (values.Count == 0 || string.IsNullOrEmpty(values[0]))
        {
            return ValueTask.FromResult(AuthenticationOutcome.Refused($"{_subject} requires an API key in the {_header} header.", challenge));
        }

        if (values.Count > 1)
        {
            return ValueTask.FromResult(AuthenticationOutcome.Refused($"the {_header} header is given more than once.", challenge));
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(values[0]!));
        string? match = null;
        // Every hash is compared, so the time taken does not tell which key came close.
        foreach (var (name, expected) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, expected))
            {
                match ??= name;
            }
        }

        context.Request.Headers.Remove(_header);
        return ValueTask.FromResult(match is null
            ? AuthenticationOutcome.Refused($"the API key in {_header} is not valid.", challenge)
            : AuthenticationOutcome.Success([new(GatewayIdentityHeaders.ApiKeyName, match)]));
    }
}
