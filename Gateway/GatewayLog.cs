using Microsoft.Extensions.Logging;

namespace AspireMesh.Gateway;

/// <summary>The gateway's own log events (3000-3099).</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(3004, LogLevel.Information, "Gateway {Name} listening: {Urls}, admin {Admin}")]
    public static partial void Listening(ILogger logger, string name, string urls, string admin);

    [LoggerMessage(3003, LogLevel.Debug, "Refused {Method} {Path} on route {Route}: {Reason}")]
    public static partial void Unauthenticated(ILogger logger, string method, string path, string route, string reason);
}
