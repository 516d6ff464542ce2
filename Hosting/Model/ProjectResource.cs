namespace AspireMesh.Hosting.Model;

/// <summary>A .NET project run as a mesh service: one or more replicas, each with its own sidecar.</summary>
public sealed class ProjectResource
{
    private readonly List<string> _references = [];
    private readonly Dictionary<string, string> _environment = new(StringComparer.Ordinal);

    internal ProjectResource(string name, string projectPath)
    {
        Name = name;
        ProjectPath = projectPath;
    }

    /// <summary>The service name other services call it by (<c>http://name/</c>).</summary>
    public string Name { get; }

    /// <summary>Path of the .csproj, absolute or relative to the AppHost project directory.</summary>
    public string ProjectPath { get; }

    /// <summary>How many instances to run.</summary>
    public int Replicas { get; private set; } = 1;

    /// <summary>Names of the services this one calls.</summary>
    public IReadOnlyList<string> References => _references;

    /// <summary>Load balancer for calls to this service (see <c>LoadBalancerConfig.Types</c>); null keeps the mesh default.</summary>
    public string? LoadBalancer { get; private set; }

    /// <summary>Extra environment variables for every instance.</summary>
    public IReadOnlyDictionary<string, string> Environment => _environment;

    /// <summary>Runs <paramref name="replicas"/> instances, each with its own sidecar.</summary>
    public ProjectResource WithReplicas(int replicas)
    {
        Replicas = replicas;
        return this;
    }

    /// <summary>Chooses how calls to this service are balanced: RoundRobin, LeastRequest, PowerOfTwoChoices (the default).</summary>
    public ProjectResource WithLoadBalancer(string type)
    {
        LoadBalancer = type;
        return this;
    }

    /// <summary>Declares that this service calls <paramref name="service"/>.</summary>
    public ProjectResource WithReference(ProjectResource service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return WithReference(service.Name);
    }

    /// <summary>Declares that this service calls the service named <paramref name="service"/>.</summary>
    public ProjectResource WithReference(string service)
    {
        _references.Add(service);
        return this;
    }

    /// <summary>Sets an environment variable for every instance.</summary>
    public ProjectResource WithEnvironment(string name, string value)
    {
        _environment[name] = value;
        return this;
    }
}
