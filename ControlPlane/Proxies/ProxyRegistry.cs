using System.Collections.Concurrent;
using AspireMesh.Contracts.Admin;

namespace AspireMesh.ControlPlane.Proxies;

/// <summary>Every proxy that has watched or reported: what it serves, what it refused and when it was last heard of.</summary>
internal sealed class ProxyRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, ProxyRecord> _proxies = new(StringComparer.Ordinal);

    /// <summary>A watch request began (or ended: <paramref name="watching"/> -1).</summary>
    public void Watching(string id, string kind, string name, int watching) => Update(id, kind, name, record =>
    {
        // Watching is open to anyone; what a proxy reported (with its token) is not relabelled by a watch.
        if (!record.Reported)
        {
            record.Kind = kind;
            record.Name = name;
        }

        record.Watches += watching;
        record.LastSeen = time.GetUtcNow();
    });

    public void Report(string id, ProxyReport report) => Update(id, report.Kind, report.Name, record =>
    {
        record.Kind = report.Kind;
        record.Name = report.Name;
        record.Reported = true;
        record.AppliedVersion = report.AppliedVersion;
        // Each report says where to read the proxy now: one that moved to a telemetry listener is no longer read on loopback.
        record.AdminAddress = report.AdminAddress;
        record.TelemetryAddress = report.TelemetryAddress;
        record.SpiffeId = report.SpiffeId ?? record.SpiffeId;
        record.CertificateNotAfter = report.CertificateNotAfter ?? record.CertificateNotAfter;
        record.ProxyVersion = report.ProxyVersion ?? record.ProxyVersion;
        record.IgnoredFields = report.IgnoredFields is { } ignored ? [.. ignored.Take(ProxyReport.MaxIgnoredFields)] : record.IgnoredFields;
        if (report.RefusedVersion is not null)
        {
            record.RefusedVersion = report.RefusedVersion;
            record.Refusal = report.Refusal;
        }

        record.LastSeen = time.GetUtcNow();
    });

    /// <summary>
    /// Notes that <paramref name="address"/>, which proxy <paramref name="id"/> reported, is not read; whether it is the
    /// first time (so that it is logged once, not at every report).
    /// </summary>
    public bool IgnoredFirstTime(string id, string kind, string name, string address)
    {
        var first = false;
        Update(id, kind, name, record =>
        {
            first = record.IgnoredAddress != address;
            record.IgnoredAddress = address;
        });
        return first;
    }

    /// <summary>
    /// The workload whose proxy reported as <paramref name="id"/> and is watching still: another may not report under
    /// that id meanwhile. Null when none (a proxy gone, its id free again).
    /// </summary>
    public (string Kind, string Name)? LiveReporter(string id)
    {
        if (!_proxies.TryGetValue(id, out var record))
        {
            return null;
        }

        lock (record)
        {
            return record is { Reported: true, Watches: > 0 } ? (record.Kind, record.Name) : null;
        }
    }

    /// <summary>
    /// Forgets the proxies that stopped watching before <paramref name="cutoff"/> (gone, or cut off for that long), so that
    /// the records of proxies that came and went do not pile up for the control plane's lifetime. Returns how many.
    /// </summary>
    public int ForgetSilentSince(DateTimeOffset cutoff)
    {
        var forgotten = 0;
        foreach (var (id, record) in _proxies)
        {
            lock (record)
            {
                if (record.Watches > 0 || record.LastSeen >= cutoff)
                {
                    continue;
                }

                record.Forgotten = true;
            }

            if (_proxies.TryRemove(new KeyValuePair<string, ProxyRecord>(id, record)))
            {
                forgotten++;
            }
        }

        return forgotten;
    }

    public IReadOnlyList<ProxyInfo> List(long currentVersion) =>
        [.. _proxies.Values.Select(r =>
        {
            lock (r)
            {
                return new ProxyInfo(r.Id, r.Kind, r.Name, r.AppliedVersion, r.AppliedVersion == currentVersion, r.LastSeen, r.RefusedVersion, r.Refusal, r.Watches > 0)
                {
                    AdminAddress = r.AdminAddress,
                    TelemetryAddress = r.TelemetryAddress,
                    SpiffeId = r.SpiffeId,
                    CertificateNotAfter = r.CertificateNotAfter,
                    ProxyVersion = r.ProxyVersion,
                    IgnoredFields = r.IgnoredFields,
                };
            }
        }).OrderBy(p => p.Kind, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Id, StringComparer.Ordinal)];

    /// <summary>
    /// Applies <paramref name="update"/> to the record of <paramref name="id"/> under its lock; a record that
    /// <see cref="ForgetSilentSince"/> is removing meanwhile is left for a new one, so that what is heard of a proxy is never
    /// written to a forgotten record.
    /// </summary>
    private void Update(string id, string kind, string name, Action<ProxyRecord> update)
    {
        while (true)
        {
            var record = _proxies.GetOrAdd(id, _ => new ProxyRecord(id, kind, name));
            lock (record)
            {
                if (!record.Forgotten)
                {
                    update(record);
                    return;
                }
            }

            _proxies.TryRemove(new KeyValuePair<string, ProxyRecord>(id, record));
        }
    }

    private sealed class ProxyRecord(string id, string kind, string name)
    {
        public string Id { get; } = id;

        public string Kind { get; set; } = kind;

        public string Name { get; set; } = name;

        public long AppliedVersion { get; set; }

        public long? RefusedVersion { get; set; }

        public string? Refusal { get; set; }

        public int Watches { get; set; }

        /// <summary>Whether its kind and name come from a report (which needs the proxy's token off loopback).</summary>
        public bool Reported { get; set; }

        public string? AdminAddress { get; set; }

        public string? TelemetryAddress { get; set; }

        /// <summary>The address it reported last that is not read (said once).</summary>
        public string? IgnoredAddress { get; set; }

        public string? SpiffeId { get; set; }

        public DateTimeOffset? CertificateNotAfter { get; set; }

        public string? ProxyVersion { get; set; }

        public IReadOnlyList<string> IgnoredFields { get; set; } = [];

        public DateTimeOffset LastSeen { get; set; }

        /// <summary>Set, under the record's lock, once it is being removed: whoever holds it then must look again.</summary>
        public bool Forgotten { get; set; }
    }
}
