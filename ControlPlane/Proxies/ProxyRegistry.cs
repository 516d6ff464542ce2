using System.Collections.Concurrent;
using AspireMesh.Contracts.Admin;

namespace AspireMesh.ControlPlane.Proxies;

/// <summary>Every proxy that has watched or reported: what it serves, what it refused and when it was last heard of.</summary>
internal sealed class ProxyRegistry(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, ProxyRecord> _proxies = new(StringComparer.Ordinal);

    /// <summary>A watch request began (or ended: <paramref name="watching"/> -1).</summary>
    public void Watching(string id, string kind, string name, int watching)
    {
        var record = _proxies.GetOrAdd(id, _ => new ProxyRecord(id, kind, name));
        lock (record)
        {
            record.Kind = kind;
            record.Name = name;
            record.Watches += watching;
            record.LastSeen = time.GetUtcNow();
        }
    }

    public void Report(string id, ProxyReport report)
    {
        var record = _proxies.GetOrAdd(id, _ => new ProxyRecord(id, report.Kind, report.Name));
        lock (record)
        {
            record.Kind = report.Kind;
            record.Name = report.Name;
            record.AppliedVersion = report.AppliedVersion;
            record.AdminAddress = report.AdminAddress ?? record.AdminAddress;
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
        }
    }

    public IReadOnlyList<ProxyInfo> List(long currentVersion) =>
        [.. _proxies.Values.Select(r =>
        {
            lock (r)
            {
                return new ProxyInfo(r.Id, r.Kind, r.Name, r.AppliedVersion, r.AppliedVersion == currentVersion, r.LastSeen, r.RefusedVersion, r.Refusal, r.Watches > 0)
                {
                    AdminAddress = r.AdminAddress,
                    SpiffeId = r.SpiffeId,
                    CertificateNotAfter = r.CertificateNotAfter,
                    ProxyVersion = r.ProxyVersion,
                    IgnoredFields = r.IgnoredFields,
                };
            }
        }).OrderBy(p => p.Kind, StringComparer.Ordinal).ThenBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Id, StringComparer.Ordinal)];

    private sealed class ProxyRecord(string id, string kind, string name)
    {
        public string Id { get; } = id;

        public string Kind { get; set; } = kind;

        public string Name { get; set; } = name;

        public long AppliedVersion { get; set; }

        public long? RefusedVersion { get; set; }

        public string? Refusal { get; set; }

        public int Watches { get; set; }

        public string? AdminAddress { get; set; }

        public string? SpiffeId { get; set; }

        public DateTimeOffset? CertificateNotAfter { get; set; }

        public string? ProxyVersion { get; set; }

        public IReadOnlyList<string> IgnoredFields { get; set; } = [];

        public DateTimeOffset LastSeen { get; set; }
    }
}
