using AspireMesh.ProxyEngine.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AspireMesh.ProxyEngine.Hosting;

/// <summary>
/// A proxy runs each listener (inbound, outbound, admin; public, admin) as its own small web application so their
/// pipelines never mix; this starts and stops them together.
/// </summary>
public static class ListenerHost
{
    /// <summary>The host setting that makes configuration files reload when they change (and be watched for it).</summary>
    internal const string ReloadConfigOnChangeKey = "hostBuilder:reloadConfigOnChange";

    /// <summary>Creates a builder for one listener bound to <paramref name="url"/>.</summary>
    public static WebApplicationBuilder CreateBuilder(string url)
    {
        var builder = CreateBuilder(_ => { });
        builder.WebHost.UseUrls(url);
        return builder;
    }

    /// <summary>
    /// Creates a builder for a listener whose endpoints <paramref name="listen"/> declares (e.g. one HTTP/1.1 and one
    /// HTTP/2-only port); their bound ports can be read from the <see cref="ListenOptions"/> once started.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(Action<KestrelServerOptions> listen)
    {
        ArgumentNullException.ThrowIfNull(listen);
        // A proxy takes its settings from its command line and the control plane, not from appsettings files: with the
        // host's default (reload on change), each listener would watch its working directory and every folder under it
        // (a repository's few hundred), an inotify instance per listener, 128 of which are all a Linux user gets.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [$"--{ReloadConfigOnChangeKey}=false"] });
        builder.WebHost.ConfigureKestrel(k =>
        {
            listen(k);
            k.AddServerHeader = false;
            // A proxy hop streams bodies of any size; applications (or the gateway's own limits) decide what is too big.
            k.Limits.MaxRequestBodySize = null;
        });
        if (IoScheduling.Mode is var mode and not IoMode.Pool)
        {
            // With the runtime's inline socket completions, Kestrel's own hand-offs (to its I/O queues, to the
            // application) would be the only ones left: a listener that runs inline parses, proxies and answers a
            // request on one thread. Kestrel asks the transport registered last first.
            AddScheduledSockets(builder.Services, mode);
        }

        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // ASP.NET Core opens a logging scope for every request (and starts an activity for it) as long as this category
        // is enabled at any level, and all it logs is per-request Debug and Information lines; the scope alone was about
        // a sixth of what a proxied request allocated. Trace context still flows (TracePropagation).
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Logging.AddFilter("Yarp", LogLevel.Warning);
        // Failed attempts are logged once, by the retry middleware or as a mesh error; YARP would log each twice.
        builder.Logging.AddFilter("Yarp.ReverseProxy.Forwarder.HttpForwarder", LogLevel.Error);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        TracePropagation.Enable();
        return builder;
    }

    /// <summary>Registers the socket transport that binds each listener inline or on the pool under <paramref name="mode"/>.</summary>
    internal static void AddScheduledSockets(IServiceCollection services, IoMode mode, Epoll.EpollLoops? loops = null)
    {
        services.AddSingleton(provider => new ScheduledSocketTransport(mode,
            provider.GetRequiredService<IOptions<KestrelServerOptions>>(), provider.GetRequiredService<ILoggerFactory>(),
            provider.GetService<IMemoryPoolFactory<byte>>(), loops));
        services.AddSingleton<IConnectionListenerFactory>(provider => provider.GetRequiredService<ScheduledSocketTransport>());
    }

    /// <summary>The addresses a started listener is bound to (ports chosen by the kernel included), each ending in '/'.</summary>
    public static IReadOnlyList<string> BoundAddresses(WebApplication listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        return listener.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features
            .Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()?.Addresses.Select(a => a.TrimEnd('/') + "/").ToList() ?? [];
    }

    /// <summary>Exit code of a proxy whose listener could not bind its address.</summary>
    public const int ListenFailedExitCode = 3;

    /// <summary>
    /// Starts every listener; if one cannot bind its address, says so on stderr, stops the others and returns
    /// <see cref="ListenFailedExitCode"/>. Otherwise calls <paramref name="listening"/> once all listen, runs until any of
    /// them is asked to stop (SIGTERM, Ctrl+C), stops them all and returns 0.
    /// </summary>
    public static async Task<int> RunAllAsync(IReadOnlyList<WebApplication> listeners, Action? listening = null)
    {
        ArgumentNullException.ThrowIfNull(listeners);
        var started = new List<WebApplication>();
        try
        {
            foreach (var listener in listeners)
            {
                try
                {
                    await listener.StartAsync().ConfigureAwait(false);
                }
                catch (IOException ex)
                {
                    await Console.Error.WriteLineAsync($"error: cannot listen: {ex.Message}").ConfigureAwait(false);
                    return ListenFailedExitCode;
                }

                started.Add(listener);
            }

            listening?.Invoke();
            // Each listener stops itself once asked (SIGTERM reaches all of them); when one stops, ask the others too,
            // and return only when every one has finished stopping (a sidecar deregisters while it stops).
            var shutdowns = started.Select(l => l.WaitForShutdownAsync()).ToList();
            await Task.WhenAny(shutdowns).ConfigureAwait(false);
            foreach (var listener in started)
            {
                listener.Lifetime.StopApplication();
            }

            await Task.WhenAll(shutdowns).ConfigureAwait(false);
            started.Clear();
            return 0;
        }
        finally
        {
            foreach (var listener in started.AsEnumerable().Reverse())
            {
                await listener.StopAsync().ConfigureAwait(false);
            }

            foreach (var listener in listeners)
            {
                await listener.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
