using System.Security.Cryptography;
using AspireMesh.Contracts.Config;
using Microsoft.Extensions.Options;

namespace AspireMesh.ControlPlane.Config;

/// <summary>
/// Applies the mesh config file (<c>--config</c>) again whenever its content changes, as the proxies' config changes live:
/// a Kubernetes ConfigMap edited with <c>kubectl</c> (the kubelet swaps the mounted file's symlinks), or a file saved
/// in an editor. Its content is compared, not its time stamps or file events, which symlink swaps and network file
/// systems do not reliably give. A changed file is validated whole as <c>PUT /v1/config</c> validates a document: an
/// invalid one is logged with every error and its path, and the current version keeps serving; an unreadable or
/// missing one too. Only a change is applied: a version set through the API stays until the file changes again
/// (at start the file is applied, so the file wins then).
/// </summary>
internal sealed class ConfigFileWatcher(ConfigStore store, IOptions<ControlPlaneOptions> options, TimeProvider time, ILogger<ConfigFileWatcher> logger) : BackgroundService
{
    private byte[]? _applied;
    private string? _refused;

    /// <summary>Records the content applied at start, so that only a later change is applied again.</summary>
    public void Started(string content) => _applied = Hash(content);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (string.IsNullOrEmpty(options.Value.ConfigPath))
        {
            return;
        }

        var path = Path.GetFullPath(options.Value.ConfigPath);
        using var timer = new PeriodicTimer(options.Value.ConfigPollInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            await CheckAsync(path, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads the file once and applies it if its content changed since it was last applied or refused.</summary>
    internal async Task CheckAsync(string path, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Said once per reason, not every poll; a file that comes back with the applied content changes nothing.
            if (_refused != ex.Message)
            {
                _refused = ex.Message;
                ControlPlaneLog.ConfigFileUnreadable(logger, path, ex.Message, store.Current?.Version ?? 0);
            }

            return;
        }

        var hash = Hash(text);
        if (_applied is not null && hash.AsSpan().SequenceEqual(_applied))
        {
            _refused = null;
            return;
        }

        var hex = Convert.ToHexString(hash);
        if (_refused == hex)
        {
            return;
        }

        var result = MeshConfigParser.Parse(text, MeshConfigParser.DetectFormat(text, path));
        if (!result.IsValid)
        {
            _refused = hex;
            ControlPlaneLog.ConfigFileInvalid(logger, path, store.Current?.Version ?? 0, string.Concat(result.Errors.Select(e => Environment.NewLine + "  " + e)));
            return;
        }

        ConfigWriteOutcome outcome;
        try
        {
            outcome = store.Apply(result.Config!, $"file:{path}", expectedVersion: null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not kept, so not served: tried again at the next poll.
            ControlPlaneLog.ConfigFileNotSaved(logger, path, ex.Message, store.Current?.Version ?? 0);
            return;
        }

        if (outcome.Status == ConfigWriteStatus.Unchanged)
        {
            ControlPlaneLog.ConfigFileUnchanged(logger, path, outcome.Current?.Version ?? 0);
        }

        _applied = hash;
        _refused = null;
    }

    private static byte[] Hash(string content) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(content));
}
