using System.CommandLine;
using OrleansFeatures.Offline.Lake;

namespace OrleansFeatures.Cli;

/// <summary>
/// Inputs and outputs that may live in Blob / Data Lake storage (<see cref="LakePath"/>): a lake input is copied into a
/// local staging folder before it is read (and the folder deleted afterwards), a lake output is written locally and
/// uploaded. Credentials as the cluster's: <c>--storage-connection-string</c> (default
/// <c>$OFS_STORAGE_CONNECTION_STRING</c>, else the cluster's <c>FeatureStore__AzureStorage__ConnectionString</c>), or
/// none: <c>DefaultAzureCredential</c> against each URI's account.
/// </summary>
public sealed class LakeArguments : IDisposable
{
    public static Option<string?> ConnectionStringOption() => new("--storage-connection-string")
    {
        Description = "storage connection string for Blob / Data Lake URIs (default: $OFS_STORAGE_CONNECTION_STRING, else $FeatureStore__AzureStorage__ConnectionString; none: DefaultAzureCredential)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("OFS_STORAGE_CONNECTION_STRING") is { Length: > 0 } ofs ? ofs
            : Environment.GetEnvironmentVariable("FeatureStore__AzureStorage__ConnectionString") is { Length: > 0 } cluster ? cluster : null,
    };

    private readonly string _staging;
    private int _next;

    public LakeArguments(string? connectionString, string? tempDirectory)
    {
        Storage = new LakeStorage(connectionString);
        _staging = Path.Combine(tempDirectory ?? Path.GetTempPath(), $"ofs-lake-{Guid.NewGuid():N}");
    }

    public LakeStorage Storage { get; }

    public static bool IsLake(string path) => LakePath.TryParse(path) is not null;

    /// <summary>A local path to read <paramref name="path"/> from: itself, or a staged copy of the lake files it names.</summary>
    public async Task<string> LocalInputAsync(string path, CancellationToken cancellationToken) =>
        LakePath.TryParse(path) is { } lake ? await Storage.StageAsync(lake, Path.Combine(_staging, $"input-{_next++}"), cancellationToken) : path;

    /// <summary>A local file to write <paramref name="path"/> to: itself, or a staging file uploaded by <see cref="PublishAsync"/>.</summary>
    public string LocalOutput(string path)
    {
        if (LakePath.TryParse(path) is null)
        {
            return path;
        }

        Directory.CreateDirectory(_staging);
        return Path.Combine(_staging, $"output-{_next++}{Path.GetExtension(path)}");
    }

    public async Task PublishAsync(string local, string path, CancellationToken cancellationToken)
    {
        if (LakePath.TryParse(path) is { } lake)
        {
            await Storage.UploadAsync(local, lake, cancellationToken);
        }
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(_staging))
            {
                Directory.Delete(_staging, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: the staging folder is under the temp path.
        }
    }
}
