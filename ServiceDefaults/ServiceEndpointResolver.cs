using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Resolves service names the way Aspire's service discovery does, from configuration: <c>services:{name}:{endpoint}:{i}</c>
/// (environment variables <c>services__catalog__http__0</c>). A URL's scheme list (<c>https+http://catalog</c>) gives the
/// preferred endpoint names in order, after <c>default</c>; <c>http://_admin.catalog</c> asks for the endpoint named
/// <c>admin</c>. Several addresses are used in turn. A name with no configuration is left as it is (plain DNS).
/// </summary>
internal sealed class ServiceEndpointResolver(IConfiguration configuration)
{
    private readonly ConcurrentDictionary<string, int> _next = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The address to call for <paramref name="uri"/>, or null when configuration does not name the service.</summary>
    public Uri? Resolve(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var schemes = uri.Scheme.Split('+');
        var host = uri.IdnHost;
        string? endpointName = null;
        if (host.StartsWith('_') && host.IndexOf('.', StringComparison.Ordinal) is > 1 and var dot)
        {
            endpointName = host[1..dot];
            host = host[(dot + 1)..];
        }

        var service = configuration.GetSection("services").GetSection(host);
        if (!service.Exists())
        {
            return null;
        }

        var candidates = endpointName is not null ? [endpointName] : new[] { "default" }.Concat(schemes);
        foreach (var name in candidates)
        {
            var section = service.GetSection(name);
            var addresses = section.Value is { } single ? [single] : section.GetChildren().Select(c => c.Value).OfType<string>().ToArray();
            if (addresses.Length == 0)
            {
                continue;
            }

            var index = _next.AddOrUpdate($"{host}/{name}", 0, (_, i) => i + 1) % addresses.Length;
            var target = new Uri(addresses[index].Contains("://", StringComparison.Ordinal) ? addresses[index] : $"{schemes[0]}://{addresses[index]}");
            return new UriBuilder(uri) { Scheme = target.Scheme, Host = target.Host, Port = target.Port }.Uri;
        }

        return null;
    }
}

/// <summary>Sends each request to the address <see cref="ServiceEndpointResolver"/> gives for its host, if any.</summary>
internal sealed class ServiceDiscoveryHandler(ServiceEndpointResolver resolver) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var original = request.RequestUri;
        if (original is not null && resolver.Resolve(original) is { } resolved)
        {
            request.RequestUri = resolved;
            try
            {
                return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                request.RequestUri = original;
            }
        }

        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
