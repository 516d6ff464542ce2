using AspireMesh.Contracts.Client;
using AspireMesh.Contracts.Registry;
using AspireMesh.ProxyEngine;

namespace AspireMesh.MeshProxy.Registration;

/// <summary>
/// Registers the instance, renews its lease with its current health (its app's, once the sidecar has its first
/// snapshot), re-registers when the control plane has forgotten it, and deregisters on shutdown. The proxy is not ready
/// until the control plane has the instance as healthy.
/// </summary>
internal sealed class RegistrationService(ControlPlaneClient client, SidecarOptions options, InboundAddress inbound, ProxyStatus status,
    TimeProvider time, ILogger<RegistrationService> logger) : BackgroundService
{
    private const string RegisteredCondition = "registration";
    private const string AppCondition = "app";
    // An h2c app (a gRPC server) only understands HTTP/2 with prior knowledge; its probe must speak it too.
    private readonly HttpClient _probe = options.AppProtocol == AppProtocols.H2c
        ? new() { Timeout = options.AppHealthTimeout, DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact }
        : new() { Timeout = options.AppHealthTimeout };
    private bool _registered;

    // Probes in a row that must fail before a healthy app is reported unhealthy (Kubernetes' readiness default): one
    // slow answer (a GC pause, a busy machine) must not take the only instance of a service out of rotation.
    internal const int FailuresBeforeUnhealthy = 3;
    private int _failuresInARow;
    private bool _passedOnce;
    // Until the first probe ends (it may take up to its timeout while the heartbeats go on).
    private string _appProblem = $"its application has not answered GET {new Uri(options.AppUrl, options.AppHealthPath)} yet";

    // Set before a registration is sent: if shutdown cancels it in flight, the control plane may still have taken it.
    private volatile bool _mayBeRegistered;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        status.Block(RegisteredCondition, "not registered with the control plane yet");
        status.Block(AppCondition, $"application at {options.AppUrl} has not passed its health check yet");
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var address = await inbound.WaitAsync(stoppingToken).ConfigureAwait(false);
        var interval = TimeSpan.FromSeconds(1);
        var failing = false;
        var appHealthy = false;
        Task<bool>? probing = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            // Peers route only to healthy instances: not before this sidecar has its first snapshot (its policies), and
            // not if it never gets one (a refused snapshot), whatever its app says.
            var configured = status.FirstSnapshot.IsCompleted;
            // The probe runs beside the heartbeats: one slower than an interval (a slow app, a long --app-health-timeout)
            // must not hold them back until the lease expires. Until it ends, they report what the last probe found.
            probing ??= ProbeAppAsync(stoppingToken);
            var probeStillRunning = false;
            try
            {
                appHealthy = await probing.WaitAsync(interval, time, stoppingToken).ConfigureAwait(false);
                probing = null;
            }
            catch (TimeoutException)
            {
                probeStillRunning = true;
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var healthy = appHealthy && configured;
            try
            {
                var reason = healthy ? null : UnhealthyReason(appHealthy);
                if (!_registered || !await client.HeartbeatAsync(options.InstanceId, new Heartbeat(healthy) { Reason = reason }, stoppingToken).ConfigureAwait(false))
                {
                    _mayBeRegistered = true;
                    var lease = await client.RegisterAsync(options.InstanceId, new InstanceRegistration(options.Service, address.Http1.ToString().TrimEnd('/'), healthy) { Http2Address = address.Http2.ToString().TrimEnd('/'), Mtls = options.InboundMtls, Reason = reason }, stoppingToken).ConfigureAwait(false);
                    interval = TimeSpan.FromSeconds(Math.Clamp(lease.HeartbeatIntervalSeconds, 0.05, 30));
                    _registered = true;
                    MeshProxyLog.Registered(logger, options.InstanceId, options.Service, address.Http1.ToString());
                }

                // Ready once the control plane has the instance as healthy: what is ready gets traffic right away.
                if (healthy)
                {
                    status.Unblock(RegisteredCondition);
                }
                else
                {
                    status.Block(RegisteredCondition, "registered with the control plane, not yet reported healthy");
                }

                failing = false;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested && ex is HttpRequestException or ControlPlaneException or TaskCanceledException)
            {
                if (!failing)
                {
                    MeshProxyLog.RegistrationFailed(logger, options.ControlPlane.ToString(), ex.Message);
                    failing = true;
                }
            }

            if (probeStillRunning)
            {
                // This round already waited an interval for the probe.
                continue;
            }

            try
            {
                var delay = Task.Delay(interval, time, stoppingToken);
                // The first snapshot makes a healthy app's instance healthy: say so now, not an interval later (also when
                // it came while this round's heartbeat was on its way).
                await (appHealthy && !configured ? Task.WhenAny(delay, status.FirstSnapshot) : delay).ConfigureAwait(false);
                stoppingToken.ThrowIfCancellationRequested();
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (!_mayBeRegistered)
        {
            return;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            // Within the host's five seconds to stop; a control plane busy for longer lets the lease expire instead.
            timeout.CancelAfter(TimeSpan.FromSeconds(4));
            await client.DeregisterAsync(options.InstanceId, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or ControlPlaneException or OperationCanceledException)
        {
            // The lease expires on its own; deregistration only makes the exit visible sooner.
            MeshProxyLog.DeregistrationFailed(logger, options.InstanceId, ex.Message);
        }
    }

    /// <summary>
    /// Probes the app; it is healthy from its first passed probe until <see cref="FailuresBeforeUnhealthy"/> probes in a
    /// row fail (before its first passed probe, it is not).
    /// </summary>
    private async Task<bool> ProbeAppAsync(CancellationToken cancellationToken)
    {
        bool passed;
        var probe = new Uri(options.AppUrl, options.AppHealthPath);
        try
        {
            using var response = await _probe.GetAsync(probe, cancellationToken).ConfigureAwait(false);
            passed = options.AppHealthPath.Length == 0 || response.IsSuccessStatusCode;
            if (!passed)
            {
                _appProblem = $"its application answers GET {probe} with {(int)response.StatusCode}{(string.IsNullOrEmpty(response.ReasonPhrase) ? "" : " " + response.ReasonPhrase)}";
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            passed = false;
            _appProblem = ex is TaskCanceledException
                ? $"its application did not answer GET {probe} within {_probe.Timeout.TotalSeconds:0.###} s"
                : $"its application cannot be reached at {probe}: {ex.Message}";
        }

        _failuresInARow = passed ? 0 : _failuresInARow + 1;
        _passedOnce |= passed;
        var healthy = _passedOnce && _failuresInARow < FailuresBeforeUnhealthy;
        if (healthy)
        {
            status.Unblock(AppCondition);
        }
        else
        {
            status.Block(AppCondition, AppProblem);
        }

        return healthy;
    }

    /// <summary>
    /// Why the app counts as unhealthy: the last failed probe, and whether it ever passed. The same text while nothing
    /// changes, so the control plane logs a new reason only when there is one.
    /// </summary>
    private string AppProblem => _passedOnce
        ? $"{_appProblem} ({FailuresBeforeUnhealthy} or more health checks in a row failed)"
        : $"{_appProblem} (no health check passed yet)";

    /// <summary>What the control plane is told when the instance is not healthy.</summary>
    private string UnhealthyReason(bool appHealthy) => appHealthy
        ? "its sidecar has not applied a snapshot from the control plane yet (it holds requests until it has its policies and routes)"
        : AppProblem;

    public override void Dispose()
    {
        _probe.Dispose();
        base.Dispose();
    }
}
