using System.Collections.Concurrent;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.State;

namespace OrleansFeatures.Grains.Serving;

/// <summary>
/// This silo's warm tier: the read copy (the packed state without what only applying needs, written beside the stored
/// state at the same instant) of entities that deactivated here, bounded in
/// bytes (<see cref="ServingOptions.WarmTierMiB"/>) and evicted by second chance (an approximation of least recent
/// use), read by lookups without activating the entity. The rules that keep it from serving a value older than an
/// activation has applied (<c>docs/architecture.md</c>, "Serving: active, warm, cold"):
/// <list type="bullet">
/// <item>an entity enters only after its last activation's final write succeeded, with exactly the state written; while
/// it deactivates, a <see cref="Leaving"/> marker sends readers to the grain (and so to the next activation);</item>
/// <item>every activation, on any silo, removes the entity from every silo's tier before it reads storage
/// (<see cref="WarmTier.InvalidateAsync"/>), so before it applies anything; a read that took the entry before that is
/// answered as of an instant before the activation;</item>
/// <item>a marker or entry is replaced only if it is still the one the deactivation put (compare and swap), so a late
/// deactivation never overwrites the invalidation of a newer activation.</item>
/// </list>
/// </summary>
public sealed class WarmEntityCache
{
    /// <summary>
    /// Heap bytes of an entry besides its id string and its packed bytes: the entry object (56: the type and id, the view
    /// name and the packed bytes or views array, two flags), its dictionary node (56: the key, the slot, the chain link,
    /// the hash) and its share of the dictionary's bucket array and of the eviction queue (~8 each, both at most twice
    /// the entries). The entity type is the tier's one shared string for it. Checked against a measured heap by
    /// <c>WarmEntityCacheAccountingTests</c>.
    /// </summary>
    internal const int EntryOverheadBytes = 136;

    /// <summary>Bytes per view besides its packed bytes when an entity has more than one (its slot in the views array).</summary>
    internal const int ViewOverheadBytes = 24;

    private readonly ConcurrentDictionary<(string EntityType, string Id), Slot> _slots = new();

    // One string per entity type for every key and entry, not one per entity (an activation parses its own).
    private readonly ConcurrentDictionary<string, string> _entityTypes = new(StringComparer.Ordinal);

    // Second chance: entries in insertion order; a read sets the entry's bit, eviction gives a set bit one more round.
    private readonly Queue<WarmEntity> _order = new();
    private readonly Lock _orderGate = new();
    private readonly long _budgetBytes;
    private readonly DefinitionCatalog _catalog;
    private long _bytes;
    private long _count;
    private int _closed;

    public WarmEntityCache(DefinitionCatalog catalog, Microsoft.Extensions.Options.IOptions<ServingOptions> options)
    {
        _catalog = catalog;
        _budgetBytes = options.Value.WarmTierMiB * 1024L * 1024L;
        FeatureStoreMetrics.RegisterWarmTier(this);
    }

    /// <summary>Off when its budget is 0.</summary>
    public bool Enabled => _budgetBytes > 0;

    /// <summary>Estimated bytes held (packed states plus per-entry overhead).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Warm entities held.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>
    /// Reads <paramref name="features"/> of a warm entity into <paramref name="into"/>, evaluated at
    /// <paramref name="nowMs"/> exactly as its activation would: each view read from its read copy against this
    /// silo's definitions (a view of another version, or a new one, reads as empty, as a synced activation's would).
    /// False when the entity is not warm here, is leaving (deactivating: its grain answers), this silo's definitions
    /// are older than <paramref name="registryVersion"/> (the grain catches up first), or a copy's features are not
    /// its definition's (storage answers).
    /// </summary>
    public bool TryRead(long registryVersion, string entityType, string id, FeatureRefList features, long nowMs, Span<FeatureReading> into)
    {
        if (!_slots.TryGetValue((entityType, id), out var slot) || slot is not WarmEntity entity)
        {
            return false;
        }

        var definitions = _catalog.Current;
        if (definitions.Version < registryVersion)
        {
            return false;
        }

        if (!ReadCopies(definitions, entityType, entity, features, nowMs, into))
        {
            // A view's copy was written for features this silo's definition of the same version lists otherwise: the
            // stored state (matched by name and signature, as an activation does) answers instead.
            return false;
        }

        entity.Referenced = true;
        FeatureStoreMetrics.WarmReads.Add(1);
        return true;
    }

    /// <summary>
    /// Reads features of one warm entity straight from its views' read copies (<see cref="PackedViewReader"/>: no state
    /// is built), as an activation synced to <paramref name="definitions"/> would: a view of another version, or one
    /// added since, reads as empty; windows and TTLs evaluated at <paramref name="nowMs"/>. False, with
    /// <paramref name="into"/> partly written, when a copy's version is the definition's but its features (fingerprint)
    /// are not.
    /// </summary>
    private static bool ReadCopies(ActiveDefinitions definitions, string entityType, WarmEntity entity, FeatureRefList features, long nowMs, Span<FeatureReading> into)
    {
        // A service's features mostly come from one view in a row: open a view once per run, not once per feature.
        string? viewName = null;
        CompiledFeatureView? compiled = null;
        var copy = default(PackedViewReader);
        var readable = false;
        for (var i = 0; i < into.Length; i++)
        {
            if (!string.Equals(features.Views[i], viewName, StringComparison.Ordinal))
            {
                viewName = features.Views[i];
                compiled = definitions.FindView(viewName);
                readable = false;
                if (compiled is not null
                    && string.Equals(compiled.Definition.EntityType, entityType, StringComparison.Ordinal)
                    && entity.Find(compiled.Definition.Name) is { } packed)
                {
                    copy = new PackedViewReader(packed);
                    if (copy.ViewVersion == compiled.Definition.Version)
                    {
                        if (!copy.IsFor(compiled))
                        {
                            return false;
                        }

                        readable = true;
                    }
                }
            }

            var index = readable ? compiled!.IndexOf(features.Features[i]) : -1;
            into[i] = index < 0 ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0) : copy.Read(compiled!, index, nowMs);
        }

        return true;
    }

    /// <summary>
    /// Reads features of one entity from its stored views (<paramref name="views"/>: the persisted form, as storage
    /// holds it) as an activation synced to <paramref name="definitions"/> would: a view restored when its packed
    /// version is the definition's, otherwise (another version, or a view added since) empty; windows and TTLs
    /// evaluated at <paramref name="nowMs"/>.
    /// </summary>
    internal static void ReadStored(ActiveDefinitions definitions, string entityType, WarmView[] views, FeatureRefList features, long nowMs, Span<FeatureReading> into)
    {
        // A service's features mostly come from one view in a row: restore a view once per run, not once per feature.
        string? viewName = null;
        FeatureViewState? state = null;
        CompiledFeatureView? compiled = null;
        for (var i = 0; i < into.Length; i++)
        {
            if (!string.Equals(features.Views[i], viewName, StringComparison.Ordinal))
            {
                viewName = features.Views[i];
                compiled = definitions.FindView(viewName);
                state = compiled is not null && string.Equals(compiled.Definition.EntityType, entityType, StringComparison.Ordinal)
                    ? Restore(views, compiled)
                    : null;
            }

            if (state is null || state.AcceptedCount == 0)
            {
                into[i] = new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0);
                continue;
            }

            var index = compiled!.IndexOf(features.Features[i]);
            into[i] = index < 0 ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0) : state.Read(index, nowMs);
        }
    }

    private static FeatureViewState? Restore(WarmView[] views, CompiledFeatureView compiled)
    {
        foreach (var view in views)
        {
            if (string.Equals(view.Name, compiled.Definition.Name, StringComparison.Ordinal))
            {
                return view.Version == compiled.Definition.Version ? EngineStateMapper.RestoreForRead(compiled, view.Packed) : null;
            }
        }

        return null;
    }

    /// <summary>
    /// The silo is stopping: every warm copy here is dropped and none enters from now on, so activations elsewhere need
    /// not reach this silo to invalidate one (<see cref="WarmTier.InvalidateAsync"/> skips a silo that is no longer
    /// active). Called before the silo tells the cluster it is shutting down (<see cref="WarmTierStop"/>). Leaving markers
    /// stay: they still send this silo's readers of a deactivating entity to its grain.
    /// </summary>
    internal void Close()
    {
        // A full fence: a Complete that found the tier open put its copy before this, so the sweep below finds it.
        Interlocked.Exchange(ref _closed, 1);
        foreach (var (key, slot) in _slots)
        {
            if (slot is WarmEntity && _slots.TryRemove(new KeyValuePair<(string, string), Slot>(key, slot)))
            {
                Forget(slot);
            }
        }
    }

    /// <summary>The entity is deactivating on this silo (its grain, or the next activation, answers).</summary>
    internal bool IsLeaving(string entityType, string id) => _slots.TryGetValue((entityType, id), out var slot) && slot is Leaving;

    /// <summary>
    /// The entity starts to deactivate on this silo: until <see cref="Complete"/> or <see cref="Abandon"/>, readers go to
    /// its grain. Returns the marker to pass to either (null when the tier is off).
    /// </summary>
    internal Leaving? BeginLeaving(string entityType, string id)
    {
        if (!Enabled)
        {
            return null;
        }

        var marker = new Leaving();
        var key = (Intern(entityType), id);
        while (true)
        {
            if (_slots.TryGetValue(key, out var old))
            {
                if (_slots.TryUpdate(key, marker, old))
                {
                    Forget(old);
                    return marker;
                }
            }
            else if (_slots.TryAdd(key, marker))
            {
                return marker;
            }
        }
    }

    /// <summary>
    /// The deactivation's final state is durable (or nothing was unwritten): the entity becomes warm with
    /// <paramref name="views"/> (each view's name, definition version and packed bytes), unless an activation
    /// invalidated the marker meanwhile. Evicts the least recently used entries beyond the budget.
    /// </summary>
    internal void Complete(string entityType, string id, Leaving marker, WarmView[] views)
    {
        var entity = new WarmEntity(Intern(entityType), id, views);
        if (entity.Bytes > _budgetBytes || Volatile.Read(ref _closed) != 0 || !_slots.TryUpdate((entityType, id), entity, marker))
        {
            _slots.TryRemove(new KeyValuePair<(string, string), Slot>((entityType, id), marker));
            return;
        }

        if (Volatile.Read(ref _closed) != 0)
        {
            // Closed while it went in: Close's sweep may have run before it, so it goes again here.
            if (_slots.TryRemove(new KeyValuePair<(string, string), Slot>((entityType, id), entity)))
            {
                entity.Gone = true;
            }

            return;
        }

        Interlocked.Add(ref _bytes, entity.Bytes);
        Interlocked.Increment(ref _count);
        FeatureStoreMetrics.WarmEntered.Add(1);
        lock (_orderGate)
        {
            _order.Enqueue(entity);
            EvictLocked();
        }
    }

    private string Intern(string entityType) => _entityTypes.TryGetValue(entityType, out var shared) ? shared : _entityTypes.GetOrAdd(entityType, entityType);

    /// <summary>The deactivation could not write its state: readers go to storage through the next activation, as before.</summary>
    internal void Abandon(string entityType, string id, Leaving marker) =>
        _slots.TryRemove(new KeyValuePair<(string, string), Slot>((entityType, id), marker));

    /// <summary>
    /// An activation of the entity starts (here or on another silo): its warm copy or leaving marker here goes, before
    /// that activation applies anything.
    /// </summary>
    public void Invalidate(string entityType, string id)
    {
        if (_slots.TryRemove((entityType, id), out var old))
        {
            Forget(old);
            FeatureStoreMetrics.WarmInvalidated.Add(1);
        }
    }

    private void Forget(Slot slot)
    {
        // Called only by whoever removed the slot from the dictionary, so once per entry.
        if (slot is WarmEntity entity)
        {
            entity.Gone = true;
            Interlocked.Add(ref _bytes, -entity.Bytes);
            Interlocked.Decrement(ref _count);
        }
    }

    private void EvictLocked()
    {
        while (Interlocked.Read(ref _bytes) > _budgetBytes && _order.TryDequeue(out var oldest))
        {
            if (oldest.Gone)
            {
                continue;
            }

            if (oldest.Referenced)
            {
                oldest.Referenced = false;
                _order.Enqueue(oldest);
                continue;
            }

            if (_slots.TryRemove(new KeyValuePair<(string, string), Slot>(oldest.Key, oldest)))
            {
                Forget(oldest);
                FeatureStoreMetrics.WarmEvicted.Add(1);
            }
        }

        // Entries removed by invalidation leave their node behind; drop those from the front so the queue stays bounded.
        while (_order.TryPeek(out var front) && front.Gone)
        {
            _order.Dequeue();
        }

        if (_order.Count > (2 * _slots.Count) + 1024)
        {
            var live = _order.Where(e => !e.Gone).ToArray();
            _order.Clear();
            foreach (var entity in live)
            {
                _order.Enqueue(entity);
            }
        }
    }

    /// <summary>What the tier holds for an entity: a warm copy, or a marker while it deactivates.</summary>
    internal abstract class Slot;

    /// <summary>The entity is deactivating on this silo; its grain answers until it is warm.</summary>
    internal sealed class Leaving : Slot;

    /// <summary>
    /// One view's packed state with the definition version it was written for: in the tier, its read copy
    /// (<see cref="EngineStateMapper.PackForRead"/>); on the cold path, the stored form read from storage.
    /// </summary>
    internal readonly record struct WarmView(string Name, int Version, byte[] Packed);

    /// <summary>
    /// A warm entity: one object besides its id and packed bytes. One view (the common case) is held as its name (the
    /// definition's string) and read copy, without a views array; several as the array.
    /// </summary>
    private sealed class WarmEntity : Slot
    {
        private readonly string _entityType;
        private readonly string _id;
        private readonly string? _view;

        // The one view's read copy (byte[]) when _view is set, otherwise every view (WarmView[]).
        private readonly object _packed;

        public WarmEntity(string entityType, string id, WarmView[] views)
        {
            _entityType = entityType;
            _id = id;
            if (views.Length == 1)
            {
                _view = views[0].Name;
                _packed = views[0].Packed;
            }
            else
            {
                _packed = views;
            }
        }

        public volatile bool Referenced;

        public volatile bool Gone;

        public (string EntityType, string Id) Key => (_entityType, _id);

        /// <summary>Estimated heap bytes of this entry, everything it alone holds included (the same every time).</summary>
        public long Bytes => EntryOverheadBytes + StringBytes(_id) + (_view is not null
            ? ArrayBytes(((byte[])_packed).Length)
            : ((WarmView[])_packed).Sum(v => ViewOverheadBytes + ArrayBytes(v.Packed.Length)) + ArrayBytes(0));

        public byte[]? Find(string view)
        {
            if (_view is not null)
            {
                return string.Equals(_view, view, StringComparison.Ordinal) ? (byte[])_packed : null;
            }

            foreach (var candidate in (WarmView[])_packed)
            {
                if (string.Equals(candidate.Name, view, StringComparison.Ordinal))
                {
                    return candidate.Packed;
                }
            }

            return null;
        }

        // A string's and an array's heap size on 64-bit .NET: header and length (a string's ends with a NUL), to 8 bytes.
        private static long StringBytes(string s) => Align(22 + (2L * s.Length));

        private static long ArrayBytes(int length) => Align(24L + length);

        private static long Align(long bytes) => (bytes + 7) & ~7L;
    }
}
