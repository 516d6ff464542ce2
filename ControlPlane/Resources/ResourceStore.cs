using AspireMesh.Contracts.Admin;
using AspireMesh.Contracts.Config;

namespace AspireMesh.ControlPlane.Resources;

/// <summary>
/// What the AppHost publishes about the processes it runs: the latest snapshot of their states and, per resource, its
/// last console lines (a ring of <see cref="LinesPerResource"/>). In memory only: after a restart the AppHost publishes
/// again. Bounded in every direction, so a chatty or misbehaving publisher cannot grow it.
/// </summary>
internal sealed class ResourceStore(TimeProvider time)
{
    /// <summary>Most resources one snapshot may list.</summary>
    public const int MaxResources = 256;

    /// <summary>Most console lines one batch may carry.</summary>
    public const int MaxLinesPerBatch = 1000;

    /// <summary>Console lines kept per resource; older ones are dropped.</summary>
    public const int LinesPerResource = 200;

    /// <summary>Longest console line kept; longer ones are cut.</summary>
    public const int MaxLineLength = 4096;

    private const int MaxNameLength = 128;
    private const int MaxUrls = 16;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Queue<ResourceLogLine>> _logs = new(StringComparer.Ordinal);
    private ResourceList _current = new(null, []);

    public ResourceList Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    /// <summary>Replaces the snapshot; forgets the console lines of resources it no longer lists.</summary>
    public IReadOnlyList<ConfigError> Publish(ResourceSnapshot snapshot)
    {
        var errors = Validate(snapshot);
        if (errors.Count > 0)
        {
            return errors;
        }

        lock (_gate)
        {
            _current = new ResourceList(time.GetUtcNow(), [.. snapshot.Resources.OrderBy(r => r.Name, StringComparer.Ordinal)]);
            var names = snapshot.Resources.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var gone in _logs.Keys.Where(k => !names.Contains(k)).ToList())
            {
                _logs.Remove(gone);
            }

            foreach (var name in names)
            {
                _logs.TryAdd(name, new Queue<ResourceLogLine>());
            }
        }

        return [];
    }

    /// <summary>Appends console lines; refused whole when one names a resource the snapshot does not list.</summary>
    public IReadOnlyList<ConfigError> Append(ResourceLogBatch batch)
    {
        var errors = new List<ConfigError>();
        if (batch.Lines.Count > MaxLinesPerBatch)
        {
            errors.Add(new("lines", $"a batch carries at most {MaxLinesPerBatch} lines; this one has {batch.Lines.Count}. Send them in smaller batches."));
            return errors;
        }

        lock (_gate)
        {
            for (var i = 0; i < batch.Lines.Count; i++)
            {
                if (!_logs.ContainsKey(batch.Lines[i].Resource))
                {
                    errors.Add(new($"lines[{i}].resource", $"'{batch.Lines[i].Resource}' is not a published resource; PUT /v1/resources lists the resources first."));
                }
            }

            if (errors.Count > 0)
            {
                return errors;
            }

            foreach (var line in batch.Lines)
            {
                var ring = _logs[line.Resource];
                ring.Enqueue(line.Text.Length > MaxLineLength ? line with { Text = string.Concat(line.Text.AsSpan(0, MaxLineLength), "…") } : line);
                while (ring.Count > LinesPerResource)
                {
                    ring.Dequeue();
                }
            }
        }

        return errors;
    }

    /// <summary>The last <paramref name="tail"/> lines of <paramref name="name"/>, oldest first; null when it is not published.</summary>
    public ResourceLogs? Logs(string name, int tail)
    {
        lock (_gate)
        {
            return _logs.TryGetValue(name, out var ring) ? new ResourceLogs(name, [.. ring.Skip(Math.Max(0, ring.Count - tail))]) : null;
        }
    }

    private static List<ConfigError> Validate(ResourceSnapshot snapshot)
    {
        var errors = new List<ConfigError>();
        if (snapshot.Resources.Count > MaxResources)
        {
            errors.Add(new("resources", $"a snapshot lists at most {MaxResources} resources; this one lists {snapshot.Resources.Count}."));
            return errors;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < snapshot.Resources.Count; i++)
        {
            var resource = snapshot.Resources[i];
            var at = $"resources[{i}]";
            if (string.IsNullOrWhiteSpace(resource.Name) || resource.Name.Length > MaxNameLength || resource.Name.Any(char.IsControl))
            {
                errors.Add(new($"{at}.name", $"a resource name is 1-{MaxNameLength} printable characters."));
            }
            else if (!seen.Add(resource.Name))
            {
                errors.Add(new($"{at}.name", $"'{resource.Name}' is listed twice."));
            }

            if (!ResourceKinds.All.Contains(resource.Kind, StringComparer.Ordinal))
            {
                errors.Add(new($"{at}.kind", $"'{resource.Kind}' is not a resource kind; use one of: {string.Join(", ", ResourceKinds.All)}."));
            }

            if (!ResourceStates.All.Contains(resource.State, StringComparer.Ordinal))
            {
                errors.Add(new($"{at}.state", $"'{resource.State}' is not a resource state; use one of: {string.Join(", ", ResourceStates.All)}."));
            }

            if (resource.Restarts < 0)
            {
                errors.Add(new($"{at}.restarts", "must not be negative."));
            }

            if (resource.Pid is <= 0)
            {
                errors.Add(new($"{at}.pid", "must be a positive process id, or absent."));
            }

            if (resource.Urls.Count > MaxUrls)
            {
                errors.Add(new($"{at}.urls", $"at most {MaxUrls} URLs."));
            }

            for (var u = 0; u < resource.Urls.Count && u < MaxUrls; u++)
            {
                if (!Uri.TryCreate(resource.Urls[u], UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                {
                    errors.Add(new($"{at}.urls[{u}]", $"'{resource.Urls[u]}' is not an absolute http(s) URL."));
                }
            }
        }

        return errors;
    }
}
