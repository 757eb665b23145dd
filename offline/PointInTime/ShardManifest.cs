using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using OrleansFeatures.Offline.Lake;

namespace OrleansFeatures.Offline.PointInTime;

/// <summary>
/// A sharded training set (<c>--shard i/N</c>): a partitioned Parquet dataset in a folder (local or in the lake), one
/// part per shard under <c>shard=IIIII/</c>, and <c>_manifest.json</c> saying how many shards there are and which are
/// done (rows, file, when). Shards finish in any order on any machine: the manifest is updated under a lock file
/// locally and with a conditional write (ETag) in Blob storage, so no shard's entry is lost to another's.
/// </summary>
public sealed class ShardManifest
{
    public const string FileName = "_manifest.json";

    [JsonPropertyName("shards")]
    public int Shards { get; set; }

    [JsonPropertyName("feature_service")]
    public string FeatureService { get; set; } = "";

    [JsonPropertyName("done")]
    public List<ShardEntry> Done { get; set; } = [];

    /// <summary>The part file of a shard, relative to the dataset folder.</summary>
    public static string PartOf(EntityShard shard) =>
        string.Create(CultureInfo.InvariantCulture, $"shard={shard.Index:D5}/part-{shard.Index:D5}-of-{shard.Count:D5}.parquet");

    /// <summary>Records <paramref name="entry"/> as done in the dataset at <paramref name="dataset"/> (a folder or lake path).</summary>
    public static async Task<ShardManifest> RecordAsync(string dataset, LakeStorage? storage, int shards, string featureService, ShardEntry entry, CancellationToken cancellationToken)
    {
        if (LakePath.TryParse(dataset) is { } lake)
        {
            var path = lake.Child(FileName);
            var lakeStorage = storage ?? throw new ArgumentException("a lake dataset needs storage credentials");
            for (var attempt = 0; ; attempt++)
            {
                var current = await lakeStorage.ReadTextAsync(path, cancellationToken);
                var manifest = Update(current?.Text, dataset, shards, featureService, entry);
                if (await lakeStorage.TryWriteTextAsync(path, Serialize(manifest), current?.Version, cancellationToken))
                {
                    return manifest;
                }

                // Another shard wrote in between: read its version and add ours again.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(20, 200)), cancellationToken);
            }
        }

        Directory.CreateDirectory(dataset);
        var file = Path.Combine(dataset, FileName);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            FileStream? gate = null;
            try
            {
                gate = new FileStream(file + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(10, 100)), cancellationToken);
                continue;
            }

            using (gate)
            {
                var manifest = Update(File.Exists(file) ? await File.ReadAllTextAsync(file, cancellationToken) : null, dataset, shards, featureService, entry);
                var temporary = file + ".tmp";
                await File.WriteAllTextAsync(temporary, Serialize(manifest), cancellationToken);
                File.Move(temporary, file, overwrite: true);
                return manifest;
            }
        }
    }

    public static ShardManifest Parse(string text, string where) =>
        JsonSerializer.Deserialize<ShardManifest>(text) ?? throw new InvalidDataException($"{where}: not a training-set manifest");

    private static ShardManifest Update(string? text, string dataset, int shards, string featureService, ShardEntry entry)
    {
        var manifest = text is null ? new ShardManifest { Shards = shards, FeatureService = featureService } : Parse(text, dataset);
        if (manifest.Shards != shards || manifest.FeatureService != featureService)
        {
            throw new InvalidDataException(
                $"{dataset} holds a training set of '{manifest.FeatureService}' in {manifest.Shards} shards, not '{featureService}' in {shards}; write to another folder");
        }

        manifest.Done.RemoveAll(d => d.Shard == entry.Shard);
        manifest.Done.Add(entry);
        manifest.Done.Sort((a, b) => a.Shard.CompareTo(b.Shard));
        return manifest;
    }

    private static string Serialize(ShardManifest manifest) => JsonSerializer.Serialize(manifest, new JsonSerializerOptions { WriteIndented = true });
}

/// <summary>One finished shard of a sharded training set.</summary>
public sealed class ShardEntry
{
    [JsonPropertyName("shard")]
    public int Shard { get; set; }

    [JsonPropertyName("file")]
    public string File { get; set; } = "";

    [JsonPropertyName("rows")]
    public long Rows { get; set; }

    [JsonPropertyName("completed_at")]
    public DateTimeOffset CompletedAt { get; set; }
}
