namespace OrleansFeatures.Offline.PointInTime;

/// <summary>The temporary files of one build: per partition, its events, its label rows and its result rows.</summary>
internal sealed class SpillFiles : IDisposable
{
    private readonly bool _owned;

    public SpillFiles(string? directory, int partitions)
    {
        _owned = directory is null;
        Directory = directory ?? Path.Combine(Path.GetTempPath(), $"ofs-training-set-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        Partitions = partitions;
    }

    public string Directory { get; }

    public int Partitions { get; }

    public string Events(int partition) => Path.Combine(Directory, $"events-{partition:D4}.bin");

    public string Labels(int partition) => Path.Combine(Directory, $"labels-{partition:D4}.bin");

    public string Results(int partition) => Path.Combine(Directory, $"results-{partition:D4}.bin");

    public static BinaryWriter Create(string path) =>
        new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16), System.Text.Encoding.UTF8, leaveOpen: false);

    /// <summary>A whole partition file in memory: it is about to be held as objects anyway, and a stream's length and position cost system calls per record.</summary>
    public static BinaryReader ReadAll(string path) => new(new MemoryStream(File.ReadAllBytes(path), writable: false), System.Text.Encoding.UTF8, leaveOpen: false);

    public static BinaryReader Open(string path) =>
        new(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan), System.Text.Encoding.UTF8, leaveOpen: false);

    /// <summary>Stable across processes (unlike <see cref="string.GetHashCode()"/>): FNV-1a over the UTF-16 code units.</summary>
    public int PartitionOf(string entityId)
    {
        var hash = 2166136261u;
        foreach (var c in entityId)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)(hash % (uint)Partitions);
    }

    public void Dispose()
    {
        if (_owned)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        else
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.bin"))
            {
                File.Delete(file);
            }
        }
    }
}
