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
    /// <summary>The content last acted on: applied, or refused as invalid.</summary>
    private byte[]? _settled;

    /// <summary>New content seen at one poll, applied when the next poll reads it again.</summary>
    private byte[]? _candidate;

    /// <summary>The last problem said (unreadable, not saved), so that it is said once, not at every poll.</summary>
    private string? _said;

    /// <summary>Records the content applied at start, so that only a later change is applied again.</summary>
    public void Started(string content) => _settled = Hash(content);

    /// <summary>How a config file's format is told: by its name's extension only (a folder named "json" says nothing).</summary>
    public static ConfigFormat Format(string text, string path) => MeshConfigParser.DetectFormat(text, Path.GetExtension(path));

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
            try
            {
                await CheckAsync(path, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Whatever goes wrong costs this poll, never the control plane (a background service's exception stops the host).
                Say($"error:{ex.Message}", () => ControlPlaneLog.ConfigFileCheckFailed(logger, path, ex));
            }
        }
    }

    /// <summary>
    /// Reads the file once. New content is applied only when two polls in a row read it: a file being written in place
    /// (an editor, <c>cat &gt; mesh.yaml</c>) can read as a valid document cut short, whose missing policies would serve.
    /// </summary>
    internal async Task CheckAsync(string path, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Say($"unreadable:{ex.Message}", () => ControlPlaneLog.ConfigFileUnreadable(logger, path, ex.Message, store.Current?.Version ?? 0));
            return;
        }

        var hash = Hash(text);
        if (_settled is not null && hash.AsSpan().SequenceEqual(_settled))
        {
            _candidate = null;
            _said = null;
            return;
        }

        if (_candidate is null || !hash.AsSpan().SequenceEqual(_candidate))
        {
            _candidate = hash;
            return;
        }

        var result = MeshConfigParser.Parse(text, Format(text, path));
        if (!result.IsValid)
        {
            _settled = hash;
            _said = null;
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
            Say($"unsaved:{ex.Message}", () => ControlPlaneLog.ConfigFileNotSaved(logger, path, ex.Message, store.Current?.Version ?? 0));
            return;
        }

        if (outcome.Status == ConfigWriteStatus.Unchanged)
        {
            ControlPlaneLog.ConfigFileUnchanged(logger, path, outcome.Current?.Version ?? 0);
        }

        _settled = hash;
        _said = null;
    }

    private void Say(string what, Action log)
    {
        if (_said != what)
        {
            _said = what;
            log();
        }
    }

    private static byte[] Hash(string content) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(content));
}
