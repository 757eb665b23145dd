using System.Globalization;
using System.Text;

namespace OrleansFeatures.Offline.PointInTime;

/// <summary>
/// One of <see cref="Count"/> deterministic hash shards of the entity keys (<c>--shard i/N</c>): a key belongs to shard
/// <c>FNV-1a-64(UTF-8 key) mod N</c>, whatever machine or run computes it. A different hash from the spill partitions'
/// (<see cref="SpillFiles"/>), so a shard's keys still spread over all of them.
/// </summary>
public sealed record EntityShard(int Index, int Count)
{
    /// <summary>Parses <c>i/N</c> (0 ≤ i &lt; N).</summary>
    public static EntityShard Parse(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0
            || !int.TryParse(text.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            || !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            || count < 1 || index >= count)
        {
            throw new ArgumentException($"shard '{text}' is not i/N with 0 <= i < N (e.g. 3/16)");
        }

        return new EntityShard(index, count);
    }

    public static int Of(string entityKey, int count)
    {
        var hash = 14695981039346656037UL;
        Span<byte> buffer = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetMaxByteCount(entityKey.Length) <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(entityKey, buffer)] : Encoding.UTF8.GetBytes(entityKey);
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return (int)(hash % (ulong)count);
    }

    public bool Contains(string entityKey) => Count == 1 || Of(entityKey, Count) == Index;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Index}/{Count}");
}
