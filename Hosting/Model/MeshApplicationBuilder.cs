using System.Globalization;
using System.Reflection;
using AspireMesh.Contracts.Config;
using AspireMesh.Contracts.Snapshots;
using AspireMesh.Hosting.Publishing;
using Microsoft.Extensions.Configuration;

namespace AspireMesh.Hosting.Model;

/// <summary>
/// Builds the model of a mesh, as Aspire's DistributedApplicationBuilder does: services (projects) with replicas and
/// references, and gateways with routes. The control plane and a sidecar per instance are added by the mesh itself.
/// </summary>
public sealed class MeshApplicationBuilder
{
    private static readonly Dictionary<string, string> Switches = new(StringComparer.Ordinal)
    {
        ["--gateway-port"] = $"{MeshHostOptions.SectionName}:{nameof(MeshHostOptions.GatewayPort)}",
        ["--controlplane-port"] = $"{MeshHostOptions.SectionName}:{nameof(MeshHostOptions.ControlPlanePort)}",
        // Publish mode, with Aspire's option names (azd and aspirate pass --publisher manifest --output-path <path>).
        ["--publisher"] = $"{PublishOptions.SectionName}:Publisher",
        ["--output-path"] = $"{PublishOptions.SectionName}:OutputPath",
        ["--operation"] = $"{PublishOptions.SectionName}:Operation",
        ["--step"] = $"{PublishOptions.SectionName}:Step",
        ["--namespace"] = $"{PublishOptions.SectionName}:Namespace",
        ["--image-registry"] = $"{PublishOptions.SectionName}:ImageRegistry",
        ["--image-tag"] = $"{PublishOptions.SectionName}:ImageTag",
        ["--secrets"] = $"{PublishOptions.SectionName}:Secrets",
        ["--storage-class"] = $"{PublishOptions.SectionName}:StorageClass",
    };

    private readonly List<ProjectResource> _projects = [];
    private readonly List<GatewayResource> _gateways = [];
    private readonly List<string> _argumentErrors = [];

    private MeshApplicationBuilder(string[] args, Assembly appHostAssembly)
    {
        Locator = ProjectLocator.FromAssembly(appHostAssembly);
        var valid = CheckArguments(args);
        Configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(valid, Switches)
            .Build();
        Options = ReadOptions(Configuration, _argumentErrors);
        Publish = PublishOptions.Read(Configuration, _argumentErrors);
    }

    /// <summary>Whether the command line asked for help.</summary>
    public bool HelpRequested { get; private set; }

    /// <summary>The AppHost's configuration (appsettings.json, environment, command line).</summary>
    public IConfiguration Configuration { get; }

    /// <summary>Run settings.</summary>
    public MeshHostOptions Options { get; }

    /// <summary>Publish mode's settings; null in run mode.</summary>
    public PublishOptions? Publish { get; }

    internal ProjectLocator Locator { get; }

    /// <summary>Starts a model; <paramref name="args"/> are the AppHost's command-line arguments.</summary>
    public static MeshApplicationBuilder Create(string[] args) =>
        Create(args, Assembly.GetEntryAssembly() ?? throw new InvalidOperationException("No entry assembly to read project metadata from."));

    /// <summary>Starts a model whose project metadata is read from <paramref name="appHostAssembly"/>.</summary>
    public static MeshApplicationBuilder Create(string[] args, Assembly appHostAssembly) => new(args, appHostAssembly);

    /// <summary>Adds a .NET project as a mesh service named <paramref name="name"/>.</summary>
    public ProjectResource AddProject(string name, string projectPath)
    {
        var project = new ProjectResource(name, projectPath);
        _projects.Add(project);
        return project;
    }

    /// <summary>Adds an ingress gateway.</summary>
    public GatewayResource AddGateway(string name)
    {
        var gateway = new GatewayResource(name);
        _gateways.Add(gateway);
        return gateway;
    }

    /// <summary>Validates the whole model and freezes it. Throws <see cref="TopologyException"/> listing every problem.</summary>
    public MeshApplication Build()
    {
        var errors = new List<string>(_argumentErrors);
        var names = new Dictionary<string, string>(StringComparer.Ordinal) { [MeshApplication.ControlPlaneName] = "the control plane" };
        foreach (var project in _projects)
        {
            CheckName(project.Name, "service", names, errors);
            if (project.Replicas is < 1 or > 50)
            {
                errors.Add($"service '{project.Name}': replicas must be between 1 and 50, not {project.Replicas}.");
            }

            var fullPath = Locator.ResolveProjectPath(project.ProjectPath);
            if (!File.Exists(fullPath))
            {
                errors.Add($"service '{project.Name}': project file '{fullPath}' does not exist.");
            }
            else if (Locator.FindAssembly(fullPath) is null)
            {
                errors.Add($"service '{project.Name}': '{fullPath}' is not referenced by the AppHost project; add <ProjectReference Include=\"{project.ProjectPath}\" EmitProjectPath=\"true\" ReferenceOutputAssembly=\"false\" />.");
            }
        }

        foreach (var gateway in _gateways)
        {
            CheckName(gateway.Name, "gateway", names, errors);
        }

        var services = _projects.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var project in _projects)
        {
            foreach (var reference in project.References.Where(r => !services.Contains(r)))
            {
                errors.Add($"service '{project.Name}' references '{reference}', which is not a declared service.");
            }
        }

        foreach (var gateway in _gateways)
        {
            foreach (var route in gateway.Routes)
            {
                if (!services.Contains(route.Service))
                {
                    errors.Add($"gateway '{gateway.Name}': route '{route.Path}' goes to '{route.Service}', which is not a declared service.");
                }

                if (!route.Path.StartsWith('/'))
                {
                    errors.Add($"gateway '{gateway.Name}': route path '{route.Path}' must start with '/'.");
                }

                if (route.MatchType is not (PathMatchTypes.Exact or PathMatchTypes.PathPrefix))
                {
                    errors.Add($"gateway '{gateway.Name}': route '{route.Path}' has match type '{route.MatchType}'; use Exact or PathPrefix.");
                }
            }

            foreach (var duplicate in gateway.Routes.GroupBy(r => (r.Path, r.MatchType)).Where(g => g.Count() > 1))
            {
                errors.Add($"gateway '{gateway.Name}': route {duplicate.Key.MatchType} '{duplicate.Key.Path}' is declared {duplicate.Count()} times.");
            }
        }

        var config = ToMeshConfig();
        if (errors.Count == 0)
        {
            // Whatever the model checks missed, the control plane's validator would refuse; say it here, by resource.
            errors.AddRange(MeshConfigValidator.Validate(config).Select(e => $"mesh config generated from the model, {e.Path}: {e.Message}"));
        }

        if (errors.Count > 0)
        {
            throw new TopologyException(errors);
        }

        return new MeshApplication(Options, Locator, [.. _projects], [.. _gateways], config, HelpRequested) { Publish = Publish };
    }

    private MeshConfig ToMeshConfig() => new()
    {
        Services = [.. _projects.Select(p => new ServiceConfig { Name = p.Name, References = [.. p.References.Distinct(StringComparer.Ordinal)] })],
        Routes = [.. _gateways.SelectMany(g => g.Routes.Select((r, i) => new HttpRouteConfig
        {
            Name = $"{g.Name}-{i}",
            ParentRefs = [new ParentReference { Name = g.Name }],
            Rules = [new HttpRouteRule
            {
                Matches = [new HttpRouteMatch { Path = new HttpPathMatch { Type = r.MatchType, Value = r.Path } }],
                BackendRefs = [new BackendReference { Name = r.Service }],
            }],
        }))],
        Policies = new PoliciesConfig
        {
            Backends = [.. _projects.Where(p => p.LoadBalancer is not null).Select(p => new BackendPolicy
            {
                Name = $"{p.Name}-backend",
                TargetRef = new PolicyTarget { Name = p.Name },
                LoadBalancer = new LoadBalancerConfig { Type = p.LoadBalancer! },
            })],
        },
    };

    private static void CheckName(string name, string kind, Dictionary<string, string> names, List<string> errors)
    {
        if (!MeshConfigValidator.IsDnsLabel(name))
        {
            errors.Add($"{kind} '{name}': the name must be 1-63 lower-case letters, digits or '-', starting with a letter.");
        }
        else if (!names.TryAdd(name, kind))
        {
            errors.Add($"{kind} '{name}': the name is already used by {names[name]} '{name}'.");
        }
    }

    private string[] CheckArguments(string[] args)
    {
        var valid = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h" or "-?")
            {
                HelpRequested = true;
            }
            else if (Switches.ContainsKey(arg))
            {
                if (i + 1 >= args.Length)
                {
                    _argumentErrors.Add($"option {arg} needs a value.");
                }
                else
                {
                    valid.Add(arg);
                    valid.Add(args[++i]);
                }
            }
            else if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Contains(':', StringComparison.Ordinal))
            {
                valid.Add(arg); // configuration-style: --AppHost:GatewayPort=9090
            }
            else
            {
                _argumentErrors.Add($"unknown argument '{arg}'. Options: {string.Join(", ", Switches.Keys)}, --help.");
            }
        }

        return [.. valid];
    }

    private static MeshHostOptions ReadOptions(IConfiguration configuration, List<string> errors)
    {
        var options = new MeshHostOptions();
        var section = configuration.GetSection(MeshHostOptions.SectionName);
        options.GatewayPort = ReadPort(section, nameof(MeshHostOptions.GatewayPort), "--gateway-port", options.GatewayPort, errors);
        options.ControlPlanePort = ReadPort(section, nameof(MeshHostOptions.ControlPlanePort), "--controlplane-port", options.ControlPlanePort, errors);
        if (options.GatewayPort != 0 && options.GatewayPort == options.ControlPlanePort)
        {
            errors.Add($"the gateway and the control plane cannot both use port {options.GatewayPort}.");
        }

        return options;
    }

    private static int ReadPort(IConfigurationSection section, string key, string option, int fallback, List<string> errors)
    {
        var text = section[key];
        if (text is null)
        {
            return fallback;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535)
        {
            return port;
        }

        errors.Add($"{option} (AppHost:{key}): '{text}' is not a port number between 0 and 65535.");
        return fallback;
    }
}
