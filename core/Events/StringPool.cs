using System.Collections.Concurrent;
using System.Text;

namespace OrleansFeatures.Core.Events;

/// <summary>
/// One shared string per distinct short text, looked up from characters or UTF-8 bytes without making a string:
/// field names, entity ids and category values repeat in every event of a source, so an event in flight holds the
/// pool's old strings instead of young copies that a gen0 GC must promote. Bounded: once <see cref="Capacity"/>
/// strings are pooled, new texts are made as usual and not added, so arbitrary values cannot grow it without limit.
/// Thread-safe.
/// </summary>
public sealed class StringPool
{
    /// <summary>Texts longer than this (in UTF-16 units, and in UTF-8 bytes for <see cref="GetUtf8"/>) are never pooled.</summary>
    public const int MaxPooledLength = 64;

    private readonly ConcurrentDictionary<string, string> _strings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private int _count;

    public StringPool(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        _lookup = _strings.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The most strings this pool keeps.</summary>
    public int Capacity { get; }

    /// <summary>How many strings are pooled.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The pooled string equal to <paramref name="chars"/>; pooled now if there is room.</summary>
    public string Get(ReadOnlySpan<char> chars)
    {
        if (chars.Length > MaxPooledLength)
        {
            return new string(chars);
        }

        if (_lookup.TryGetValue(chars, out var pooled))
        {
            return pooled;
        }

        var text = new string(chars);
        if (Volatile.Read(ref _count) < Capacity && _strings.TryAdd(text, text))
        {
            Interlocked.Increment(ref _count);
        }

        return text;
    }

    /// <summary>
    /// <paramref name="utf8"/> decoded (invalid sequences become U+FFFD, as <see cref="Encoding.UTF8"/> decodes them),
    /// as the pooled string when the text is short enough to pool.
    /// </summary>
    public string GetUtf8(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxPooledLength)
        {
            return Encoding.UTF8.GetString(utf8);
        }

        // A UTF-8 byte never decodes to more than one UTF-16 unit, so the buffer always fits.
        Span<char> buffer = stackalloc char[MaxPooledLength];
        return Get(buffer[..Encoding.UTF8.GetChars(utf8, buffer)]);
    }
}
