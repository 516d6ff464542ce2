using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.Hosting.Model;
using AspireMesh.Hosting.Processes;
using AspireMesh.MeshProxy.Inbound;
using AspireMesh.MeshProxy.Outbound;
using AspireMesh.MeshProxy.Registration;
using AspireMesh.ProxyEngine;
using AspireMesh.ProxyEngine.Admin;
using AspireMesh.ProxyEngine.Authentication;
using AspireMesh.ProxyEngine.Hosting;
using AspireMesh.ProxyEngine.Routing;
using AspireMesh.ProxyEngine.Security;
using AspireMesh.ProxyEngine.Telemetry;

namespace AspireMesh.MeshProxy;

/// <summary>Runs a sidecar: its three listeners, and optionally the application it fronts as a child process.</summary>
internal static class Sidecar
{
    /// <summary>
    /// Gives the sidecar's threads, those running now and those started later, a short CPU time slice, so that a woken
    /// one takes its core sooner from another process's thread (<see cref="CpuSlice"/>).
    /// </summary>
    private static void ApplyCpuSlice(int microseconds, ILogger logger)
    {
        if (microseconds == 0)
        {
            MeshProxyLog.CpuSliceKept(logger, "--cpu-slice 0");
        }
        else if (CpuSlice.Apply(microseconds, out var reason) is { } threads)
        {
            MeshProxyLog.CpuSliceSet(logger, microseconds / 1000.0, threads);
        }
        else
        {
            MeshProxyLog.CpuSliceKept(logger, reason);
        }
    }

    public static async Task<int> RunAsync(SidecarOptions options)
    {
        var status = new ProxyStatus();
        var policies = new InboundPolicies();
        // The identity comes first: the inbound port takes mTLS from its first connection on.
        using var loggers = LoggerFactory.Create(logging => logging.AddConsole());
        ApplyCpuSlice(options.CpuSliceMicroseconds, loggers.CreateLogger("AspireMesh.MeshProxy"));
        ControlPlaneTrust trust;
        try
        {
            trust = ControlPlaneTrust.FromEnvironment();
        }
        catch (InvalidDataException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        await using var identity = new WorkloadIdentity(ProxyKinds.Sidecar, options.Service, options.InstanceId, options.StateDirectory,
            ControlPlaneClient.Create(options.ControlPlane, TimeSpan.FromSeconds(30), trust), options.BootstrapCredential,
            loggers.CreateLogger("AspireMesh.MeshProxy.Identity"));
        try
        {
            if (!await identity.InitializeUnlessStoppedAsync().ConfigureAwait(false))
            {
                return 0;
            }
        }
        catch (IdentityException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        var peers = new PeerAuthentication(identity);
        using var metrics = new RequestMetrics();
        var tap = new TapHub(options.InstanceId);
        var accessLog = new AccessLog(options.AccessLog);
        var inboundEndpoints = new ListenerEndpoints();
        var outboundEndpoints = new ListenerEndpoints();
        // The credential the service requires of its callers (an authentication policy targeting it), applied with each snapshot.
        using var authentication = new AuthenticationPolicies(options.Service, TimeProvider.System, loggers);
        // Without inbound mTLS the inbound side has no identity to check callers against, so it serves them all.
        var inbound = InboundListener.Build(options, inboundEndpoints, status, policies, options.InboundMtls ? peers : new PeerAuthentication(null), authentication,
            metrics, accessLog, tap, loggers.CreateLogger("AspireMesh.MeshProxy.Tls"));
        var outbound = OutboundListener.Build(options, outboundEndpoints, status, policies, peers, authentication, metrics, accessLog, tap);
        var adminBuilder = ListenerHost.CreateBuilder($"http://127.0.0.1:{options.AdminPort}");
        adminBuilder.Services.AddMemoryReclaimer(options.MemoryReclaimSeconds);
        var admin = adminBuilder.Build();
        admin.MapProxyAdmin(status, metrics, accessLog, tap);
        admin.RecordAddressOnStart(status);
        inbound.ReadyOnceListening(status, "inbound");
        outbound.ReadyOnceListening(status, "outbound");
        // Peers reach the instance at the advertised host (in a pod: its IP), which may differ from the address bound.
        var advertised = options.AdvertiseHost ?? options.InboundAddress.ToString();
        List<WebApplication> listeners = [admin, inbound, outbound];
        if (options.TelemetryPort is { } telemetryPort)
        {
            // Started before the others, as the admin listener is: the first report to the control plane carries its address.
            listeners.Insert(1, TelemetryListener.Build(options.InboundAddress, telemetryPort, advertised, peers, status, metrics, accessLog, tap,
                loggers.CreateLogger("AspireMesh.MeshProxy.Tls")));
        }

        var run = ListenerHost.RunAllAsync(listeners);
        // Bound addresses are known once the listeners have started (ports may have been 0).
        await Task.WhenAny(run, Task.WhenAll(listeners.Select(Started))).ConfigureAwait(false);
        if (run.IsCompleted)
        {
            return await run.ConfigureAwait(false);
        }

        var inboundUrl = inboundEndpoints.Http1Url;
        var outboundUrl = outboundEndpoints.Http1Url;
        outbound.Services.GetRequiredService<InboundAddress>().Set(inboundEndpoints.Http1UrlAt(advertised), inboundEndpoints.Http2UrlAt(advertised));
        MeshProxyLog.Listening(outbound.Logger, options.InstanceId, options.Service, inboundUrl.ToString(), outboundUrl.ToString(), ListenerHost.BoundAddresses(admin)[0]);
        MeshProxyLog.ListeningHttp2(outbound.Logger, inboundEndpoints.Http2Url.ToString(), outboundEndpoints.Http2Url.ToString(), options.AppProtocol);

        if (options.AppCommand.Count == 0)
        {
            return await run.ConfigureAwait(false);
        }

        var environment = new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = options.AppUrl.ToString().TrimEnd('/'),
            ["PORT"] = $"{options.AppUrl.Port}",
            ["HTTP_PROXY"] = outboundUrl.ToString().TrimEnd('/'),
            ["NO_PROXY"] = "localhost,127.0.0.1,::1",
            // Node, Python and gRPC clients read the lower-case names.
            ["http_proxy"] = outboundUrl.ToString().TrimEnd('/'),
            ["no_proxy"] = "localhost,127.0.0.1,::1",
            ["ASPIREMESH_SERVICE"] = options.Service,
            ["ASPIREMESH_INSTANCE_ID"] = options.InstanceId,
            ["OTEL_SERVICE_NAME"] = options.Service,
            ["OTEL_RESOURCE_ATTRIBUTES"] = $"service.instance.id={options.InstanceId}",
            // The sidecar's own I/O mode is not the application's: it gets what the sidecar was given.
            [IoScheduling.InlineCompletionsVariable] = IoScheduling.InheritedValue,
        };
        // The sidecar's runtime settings (its small gen0 budget) are tuned for a proxy, not for the application.
        await using var child = await ManagedProcess.StartAsync(
            new ProcessSpec(options.AppCommand[0], [.. options.AppCommand.Skip(1)], environment, Withheld: [.. SidecarRuntime.Environment.Keys]),
            onLine: null).ConfigureAwait(false);

        var first = await Task.WhenAny(run, child.Exited).ConfigureAwait(false);
        if (first == child.Exited)
        {
            // The application is the point of the instance: when it ends, so does its sidecar.
            var code = await child.Exited.ConfigureAwait(false);
            MeshProxyLog.AppExited(outbound.Logger, string.Join(' ', options.AppCommand), code);
            inbound.Lifetime.StopApplication();
            await run.ConfigureAwait(false);
            return code;
        }

        await child.StopAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        return await run.ConfigureAwait(false);
    }

    private static Task Started(WebApplication app)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        app.Lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        return started.Task;
    }
}
