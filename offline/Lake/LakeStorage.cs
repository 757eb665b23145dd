using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace OrleansFeatures.Offline.Lake;

/// <summary>
/// Reaches Blob / Data Lake storage as the cluster does (<c>grains/Hosting/AzureStorageSettings</c>): with a
/// connection string (an account key, or the emulator), whose endpoint then serves every lake path; without one, each
/// path's own account endpoint with <c>DefaultAzureCredential</c> (workload or managed identity in a pod, the Azure
/// CLI's login on a laptop).
/// </summary>
public sealed class LakeStorage(string? connectionString)
{
    private static readonly Lazy<TokenCredential> SharedCredential = new(() => new DefaultAzureCredential());

    public BlobContainerClient ContainerOf(LakePath path) =>
        string.IsNullOrWhiteSpace(connectionString)
            ? new BlobServiceClient(path.ServiceUri, SharedCredential.Value).GetBlobContainerClient(path.Container)
            : new BlobServiceClient(connectionString).GetBlobContainerClient(path.Container);

    /// <summary>The blobs of <paramref name="path"/> in ordinal name order (the order a local folder is read in).</summary>
    public async Task<IReadOnlyList<string>> ListAsync(LakePath path, CancellationToken cancellationToken)
    {
        var container = ContainerOf(path);
        var names = new List<string>();
        await foreach (var blob in container.GetBlobsAsync(new GetBlobsOptions { Prefix = path.Prefix }, cancellationToken))
        {
            if (path.Matches(blob.Name) && !blob.Name.EndsWith('/'))
            {
                names.Add(blob.Name);
            }
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>
    /// Copies the blobs of <paramref name="path"/> into <paramref name="folder"/> (names relative to the location, so a
    /// folder's name order is the blobs' order) and returns what to read: the one file, or the folder.
    /// </summary>
    public async Task<string> StageAsync(LakePath path, string folder, CancellationToken cancellationToken)
    {
        var names = await ListAsync(path, cancellationToken);
        if (names.Count == 0)
        {
            throw new FileNotFoundException($"{path}: no blob matches");
        }

        Directory.CreateDirectory(folder);
        var container = ContainerOf(path);
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (name, token) =>
        {
            var local = System.IO.Path.Combine(folder, path.Relative(name).Replace('/', System.IO.Path.DirectorySeparatorChar));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(local)!);
            await container.GetBlobClient(name).DownloadToAsync(local, token);
        });
        return names.Count == 1 && names[0] == path.Path ? System.IO.Path.Combine(folder, path.Relative(names[0])) : folder;
    }

    public async Task UploadAsync(string file, LakePath path, CancellationToken cancellationToken)
    {
        var container = ContainerOf(path);
        await container.GetBlobClient(path.Path).UploadAsync(file, overwrite: true, cancellationToken);
    }

    /// <summary>The blob's text and version, or null when it does not exist.</summary>
    public async Task<(string Text, ETag Version)?> ReadTextAsync(LakePath path, CancellationToken cancellationToken)
    {
        try
        {
            var content = await ContainerOf(path).GetBlobClient(path.Path).DownloadContentAsync(cancellationToken);
            return (content.Value.Content.ToString(), content.Value.Details.ETag);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    /// <summary>Writes the blob if it is still at <paramref name="version"/> (null: if it does not exist); false when another writer got there first.</summary>
    public async Task<bool> TryWriteTextAsync(LakePath path, string text, ETag? version, CancellationToken cancellationToken)
    {
        var conditions = version is { } etag ? new BlobRequestConditions { IfMatch = etag } : new BlobRequestConditions { IfNoneMatch = ETag.All };
        try
        {
            await ContainerOf(path).GetBlobClient(path.Path).UploadAsync(BinaryData.FromString(text), new BlobUploadOptions { Conditions = conditions }, cancellationToken);
            return true;
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            return false;
        }
    }
}
