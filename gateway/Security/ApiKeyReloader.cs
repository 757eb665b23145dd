using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.Primitives;

namespace OrleansFeatures.Gateway.Security;

/// <summary>
/// Replaces the active API keys when the configuration reloads (an edited <c>FeatureStore:Auth:ApiKeysFile</c>, or
/// <c>appsettings.json</c>): a new key is accepted and a removed one refused without a restart. Keys that fail validation,
/// or a keys file that cannot be read, leave the keys in force and are logged naming the setting.
/// </summary>
public sealed partial class ApiKeyReloader(IConfiguration configuration, ApiKeyRing ring, ApiKeysFile file, ILogger<ApiKeyReloader> logger)
    : IHostedService, IDisposable
{
    private IDisposable? _subscription;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        file.Started = true;
        _subscription = ChangeToken.OnChange(configuration.GetReloadToken, Reload);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _subscription?.Dispose();

    private void Reload()
    {
        // A half-written or invalid file empties its provider; reading that as "no keys" would revoke every key at once.
        // The file is checked again here too: another source's reload fires the same token while the file is still broken.
        if ((file.TakeFailure()?.Message ?? file.Unreadable()) is { } reason)
        {
            LogUnreadableFile(logger, file.Path ?? "", reason, ring.Count);
            return;
        }

        var options = new AuthOptions();
        try
        {
            configuration.GetSection(AuthOptions.Section).Bind(options);
        }
        catch (InvalidOperationException exception)
        {
            LogInvalidKeys(logger, exception.Message, ring.Count);
            return;
        }

        var failures = AuthOptionsValidator.ValidateApiKeys(options.ApiKeys);
        if (failures.Count > 0)
        {
            LogInvalidKeys(logger, string.Join("; ", failures), ring.Count);
            return;
        }

        if (SameKeys(options.ApiKeys))
        {
            return;
        }

        ring.Replace(options.ApiKeys);
        LogReloaded(logger, ring.Count);
    }

    private bool SameKeys(List<ApiKeyOptions> keys)
    {
        var candidate = new ApiKeyRing(keys);
        return candidate.Count == ring.Count && ring.SameAs(candidate);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "API keys reloaded: {KeyCount} active keys")]
    private static partial void LogReloaded(ILogger logger, int keyCount);

    [LoggerMessage(Level = LogLevel.Error, Message = "API keys not reloaded, the {KeyCount} keys in force stay: {Failures}")]
    private static partial void LogInvalidKeys(ILogger logger, string failures, int keyCount);

    [LoggerMessage(Level = LogLevel.Error, Message = "API keys not reloaded, the {KeyCount} keys in force stay: FeatureStore:Auth:ApiKeysFile {Path} could not be read ({Reason}); write it whole, e.g. to a temporary file then rename")]
    private static partial void LogUnreadableFile(ILogger logger, string path, string reason, int keyCount);
}

/// <summary>
/// The watched keys file of <c>FeatureStore:Auth:ApiKeysFile</c>: fails start-up when unreadable, and afterwards records a failed
/// reload for <see cref="ApiKeyReloader"/> instead of letting the configuration drop the file's keys.
/// </summary>
public sealed class ApiKeysFile
{
    private Exception? _failure;

    public string? Path { get; private set; }

    /// <summary>Set once the host runs: from then on a load failure is a failed reload, not a failed start.</summary>
    public bool Started { get; set; }

    /// <summary>Adds the file named by <c>FeatureStore:Auth:ApiKeysFile</c>, if any, to <paramref name="configuration"/>, watched.</summary>
    public void AddTo(IConfigurationManager configuration)
    {
        Path = configuration[$"{AuthOptions.Section}:{nameof(AuthOptions.ApiKeysFile)}"];
        if (string.IsNullOrWhiteSpace(Path))
        {
            return;
        }

        var full = System.IO.Path.GetFullPath(Path);
        if (!File.Exists(full))
        {
            throw new InvalidOperationException($"{AuthOptions.Section}:ApiKeysFile names {full}, which does not exist");
        }

        configuration.Add<JsonConfigurationSource>(source =>
        {
            source.FileProvider = new Microsoft.Extensions.FileProviders.PhysicalFileProvider(System.IO.Path.GetDirectoryName(full)!);
            source.Path = System.IO.Path.GetFileName(full);
            source.Optional = false;
            source.ReloadOnChange = true;
            source.OnLoadException = context =>
            {
                if (Started)
                {
                    Volatile.Write(ref _failure, context.Exception);
                    context.Ignore = true;
                }
            };
        });
    }

    /// <summary>The failure of the last reload, once; null when it loaded.</summary>
    public Exception? TakeFailure() => Interlocked.Exchange(ref _failure, null);

    /// <summary>Why the file is not JSON right now, or null when it is (or when there is no keys file).</summary>
    public string? Unreadable()
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            return null;
        }

        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path), new System.Text.Json.JsonDocumentOptions { CommentHandling = System.Text.Json.JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return null;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return exception.Message;
        }
    }
}
