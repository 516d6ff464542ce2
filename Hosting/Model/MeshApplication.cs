using System.Runtime.InteropServices;
using AspireMesh.Contracts.Config;
using AspireMesh.Hosting.Orchestration;
using AspireMesh.Hosting.Publishing;

namespace AspireMesh.Hosting.Model;

/// <summary>A validated, frozen mesh model, ready to run.</summary>
public sealed class MeshApplication
{
    /// <summary>Resource name of the control plane.</summary>
    public const string ControlPlaneName = "controlplane";

    internal MeshApplication(MeshHostOptions options, ProjectLocator locator, IReadOnlyList<ProjectResource> projects,
        IReadOnlyList<GatewayResource> gateways, MeshConfig config, bool helpRequested)
    {
        Options = options;
        Locator = locator;
        Projects = projects;
        Gateways = gateways;
        Config = config;
        HelpRequested = helpRequested;
    }

    /// <summary>Run settings.</summary>
    public MeshHostOptions Options { get; }

    /// <summary>The services.</summary>
    public IReadOnlyList<ProjectResource> Projects { get; }

    /// <summary>The gateways.</summary>
    public IReadOnlyList<GatewayResource> Gateways { get; }

    /// <summary>The mesh config the control plane starts with.</summary>
    public MeshConfig Config { get; }

    /// <summary>Publish mode's settings (<c>--publisher</c>); null in run mode.</summary>
    public PublishOptions? Publish { get; init; }

    internal ProjectLocator Locator { get; }

    internal bool HelpRequested { get; }

    /// <summary>Creates a builder; see <see cref="MeshApplicationBuilder.Create(string[])"/>.</summary>
    public static MeshApplicationBuilder CreateBuilder(string[] args) => MeshApplicationBuilder.Create(args);

    /// <summary>
    /// Runs the mesh until Ctrl+C or SIGTERM (or <paramref name="cancellationToken"/>), then stops every process.
    /// Returns the process exit code: 0 after a clean stop, 1 when the mesh could not start.
    /// </summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken = default)
    {
        var console = new MeshConsole(Console.Out, Console.Error);
        if (HelpRequested)
        {
            console.Info("""
                Usage: dotnet run --project AppHost [-- options]
                  --gateway-port <port>       gateway's public port (default 8080; 0 picks a free port)
                  --controlplane-port <port>  control plane's port (default 8761; 0 picks a free port)
                Publish mode (writes files, starts nothing):
                  --publisher manifest --output-path <file.json|dir>   an Aspire manifest (for azd and aspirate)
                  --publisher kubernetes --output-path <dir>           Kubernetes YAML, with:
                    --namespace <name>        put every object in this namespace (and create it)
                    --image-registry <host>   prefix every image (e.g. ghcr.io/me)
                    --image-tag <tag>         tag of every image (default latest)
                    --storage-class <name>    storage class of the control plane's state volume (default:
                                              the cluster's default class)
                    --secrets reuse|new       keep the root CA, bootstrap key and admin token of an earlier
                                              publish in <dir> (default), or make new ones (restarts every pod)
                Configuration keys AppHost:GatewayPort and AppHost:ControlPlanePort (appsettings.json, or
                environment variables AppHost__GatewayPort, AppHost__ControlPlanePort) set the same.
                """);
            return 0;
        }

        if (Publish is not null)
        {
            return MeshPublisher.Publish(this, Publish, console, TimeProvider.System);
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        await using var runner = new MeshRunner(this, console);
        return await runner.RunAsync(stop.Token).ConfigureAwait(false);
    }
}
