using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>One value a last_n tile keeps, with the event time it came from.</summary>
public readonly record struct TimedValue(ScalarValue Value, long TimestampMs);

/// <summary>
/// A tile's last values, for last_n: at most <c>capacity</c> (the greatest N among the list's last_n features) of the
/// tile's values, ordered oldest first by event time and, for equal times, by the order they were applied. A value is
/// placed after every kept value whose time is at or before its own, so a later applied value with the same time is
/// later; the oldest is dropped past the capacity. Which values a tile keeps therefore depends only on its events and
/// the order they were applied, as the live state, a restore and the offline replay all apply them.
/// </summary>
internal sealed class LastValues
{
    private TimedValue[] _items;

    public LastValues(int initialCapacity) => _items = new TimedValue[Math.Max(1, initialCapacity)];

    private LastValues(TimedValue[] items, int count)
    {
        _items = items;
        Count = count;
    }

    public int Count { get; private set; }

    /// <summary>The kept values, oldest first.</summary>
    public ReadOnlySpan<TimedValue> Items => _items.AsSpan(0, Count);

    /// <summary>Adds a value applied after every value already kept; keeps at most <paramref name="capacity"/>.</summary>
    public void Add(in ScalarValue value, long timestampMs, int capacity)
    {
        // Events mostly arrive in time order: look for the place from the end.
        var position = Count;
        while (position > 0 && _items[position - 1].TimestampMs > timestampMs)
        {
            position--;
        }

        if (Count >= capacity)
        {
            // Full: of the kept values and the new one, the `drop` oldest go (one, unless a restored tile holds more
            // than this capacity).
            var drop = Count - capacity + 1;
            if (position < drop)
            {
                // The new value is among the dropped ones: only the kept values older than it go with it.
                Trim(drop - 1);
                return;
            }

            Array.Copy(_items, drop, _items, 0, position - drop);
            Array.Copy(_items, position, _items, position - drop + 1, Count - position);
            Count -= drop - 1;
            Array.Clear(_items, Count, _items.Length - Count);
            _items[position - drop] = new TimedValue(value, timestampMs);
            return;
        }

        if (Count == _items.Length)
        {
            Array.Resize(ref _items, Math.Min(capacity, Math.Max(2, _items.Length * 2)));
        }

        Array.Copy(_items, position, _items, position + 1, Count - position);
        _items[position] = new TimedValue(value, timestampMs);
        Count++;
    }

    private void Trim(int oldest)
    {
        if (oldest == 0)
        {
            return;
        }

        Array.Copy(_items, oldest, _items, 0, Count - oldest);
        Array.Clear(_items, Count - oldest, oldest);
        Count -= oldest;
    }

    public TimedValue[] ToArray() => Items.ToArray();

    public static LastValues From(TimedValue[] items) => new((TimedValue[])items.Clone(), items.Length);
}
