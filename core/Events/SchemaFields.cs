using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace OrleansFeatures.Core.Events;

/// <summary>The declared fields of one source, each with a fixed slot: shared by every event of the source.</summary>
public sealed class FieldLayout
{
    /// <summary>The most distinct values a string slot shares (see <see cref="ValuePool"/>): ~1–2 MB per slot when full.</summary>
    public const int PooledValuesPerSlot = 16_384;

    private readonly Dictionary<string, int> _slots;
    private readonly StringPool?[] _pools;

    public FieldLayout(IReadOnlyDictionary<string, ScalarKind> fields)
    {
        Names = [.. fields.Keys];
        Kinds = [.. fields.Values];
        _slots = new Dictionary<string, int>(Names.Count, StringComparer.Ordinal);
        _pools = new StringPool?[Names.Count];
        for (var i = 0; i < Names.Count; i++)
        {
            _slots.Add(Names[i], i);
        }
    }

    public IReadOnlyList<string> Names { get; }

    /// <summary>The declared kind of each slot.</summary>
    public IReadOnlyList<ScalarKind> Kinds { get; }

    public bool TryGetSlot(string name, out int slot) => _slots.TryGetValue(name, out slot);

    /// <summary>
    /// The pool string values of a declared string slot are shared from (made on first use): entity ids and
    /// categories repeat across a source's events, so events in flight hold old shared strings rather than young
    /// copies. A slot of unique values (the event id) should not use it: it would only fill to its bound.
    /// </summary>
    public StringPool? ValuePool(int slot)
    {
        if (Kinds[slot] != ScalarKind.String)
        {
            return null;
        }

        return Volatile.Read(ref _pools[slot])
            ?? Interlocked.CompareExchange(ref _pools[slot], new StringPool(PooledValuesPerSlot), null)
            ?? _pools[slot];
    }
}

/// <summary>
/// The fields of a normalised event as one array laid out by its source's <see cref="FieldLayout"/>; a null value
/// is an absent field. Events wait in memory between a topic and their grain, so this is about a third the size
/// of a dictionary per event and one object instead of several.
/// </summary>
public sealed class SchemaFields : IReadOnlyDictionary<string, ScalarValue>
{
    private readonly FieldLayout _layout;
    private readonly ScalarValue[] _values;

    /// <param name="values">One value per slot of <paramref name="layout"/>; owned by this instance from now on.</param>
    public SchemaFields(FieldLayout layout, ScalarValue[] values)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(values.Length, layout.Names.Count, nameof(values));
        _layout = layout;
        _values = values;
        foreach (var value in values)
        {
            if (!value.IsNull)
            {
                Count++;
            }
        }
    }

    public int Count { get; }

    /// <summary>The source's layout these fields follow.</summary>
    public FieldLayout Layout => _layout;

    /// <summary>One value per slot of <see cref="Layout"/>, null for absent fields: read without an enumerator.</summary>
    public ReadOnlySpan<ScalarValue> Slots => _values;

    public ScalarValue this[string key] =>
        TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"the event has no field '{key}'");

    public IEnumerable<string> Keys => this.Select(pair => pair.Key);

    public IEnumerable<ScalarValue> Values => this.Select(pair => pair.Value);

    public bool ContainsKey(string key) => TryGetValue(key, out _);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out ScalarValue value)
    {
        if (_layout.TryGetSlot(key, out var slot) && !_values[slot].IsNull)
        {
            value = _values[slot];
            return true;
        }

        value = default;
        return false;
    }

    public IEnumerator<KeyValuePair<string, ScalarValue>> GetEnumerator()
    {
        for (var i = 0; i < _values.Length; i++)
        {
            if (!_values[i].IsNull)
            {
                yield return new KeyValuePair<string, ScalarValue>(_layout.Names[i], _values[i]);
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
