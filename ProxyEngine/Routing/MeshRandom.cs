namespace AspireMesh.ProxyEngine.Routing;

/// <summary>The randomness behind traffic splits and fault percentages; injected so tests can fix it.</summary>
public class MeshRandom
{
    /// <summary>A number in [0, 1).</summary>
    public virtual double NextDouble() => Random.Shared.NextDouble();
}
