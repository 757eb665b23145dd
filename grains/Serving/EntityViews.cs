using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.State;

namespace OrleansFeatures.Grains.Serving;

/// <summary>
/// One activation's live feature views, readable from outside the grain's turn. The grain mutates them (apply, view
/// sync) only under <see cref="_gate"/>; a gateway thread reads them under the same lock through
/// <see cref="LocalEntityIndex"/>, so a lookup of a locally activated entity costs no grain call and no scheduler
/// turn. Reads evaluate windows and TTLs at the caller's instant exactly as the grain's own read does.
/// </summary>
public sealed class EntityViews
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LiveView> _views = new(StringComparer.Ordinal);
    private bool _retired;

    // Set while the grain syncs its views to new definitions (views are rebound or restored outside the lock): applies
    // from outside the grain's turn wait for the grain instead.
    private bool _syncing;

    // Apply sequence: advanced, under _gate, by every apply that changed a view; the receipt of an apply. A write
    // covers the sequence it packed the views at (EntityStateStore.WriteAsync), so an apply that runs while the write
    // is in flight stays unwritten instead of being marked clean by it.
    private long _applied;
    private long _writtenThrough;

    public EntityViews(long epoch = 0) => Epoch = epoch;

    /// <summary>The owning activation's identity in receipts (random per activation).</summary>
    public long Epoch { get; }

    /// <summary>
    /// The owning activation's durable write, for a partition ingester on this silo that checkpoints this entity in place
    /// (without a grain call); null outside a silo (tests of the views alone).
    /// </summary>
    internal IInPlaceCheckpoint? Checkpointer { get; set; }

    /// <summary>The activation is deactivating (or its memory is ahead of storage): nothing from outside its turn applies or writes any more.</summary>
    internal bool IsRetired
    {
        get
        {
            lock (_gate)
            {
                return _retired;
            }
        }
    }

    /// <summary>The entity type, for outcome reasons.</summary>
    internal string EntityType { get; set; } = "";

    /// <summary>Guards the views, their states and the sequences; held only for CPU work, never across an await.</summary>
    internal Lock Gate => _gate;

    /// <summary>The sequence of the newest apply that changed a view (read under <see cref="Gate"/> for a consistent pair with the views).</summary>
    internal long AppliedSequence
    {
        get
        {
            lock (_gate)
            {
                return _applied;
            }
        }
    }

    /// <summary>Every apply up to this sequence is in written state.</summary>
    internal long WrittenThrough
    {
        get
        {
            lock (_gate)
            {
                return _writtenThrough;
            }
        }
    }

    /// <summary>Some apply has not been written yet (a view changed, or one was changed and then removed).</summary>
    internal bool HasUnwritten
    {
        get
        {
            lock (_gate)
            {
                return _applied > _writtenThrough;
            }
        }
    }

    /// <summary>The sequence a write packed under <see cref="Gate"/>, for <see cref="MarkWrittenLocked"/> once it is durable.</summary>
    internal long AppliedSequenceLocked => _applied;

    /// <summary>Under <see cref="Gate"/>: the state packed at <paramref name="sequence"/> is durable.</summary>
    internal void MarkWrittenLocked(long sequence) => _writtenThrough = Math.Max(_writtenThrough, sequence);

    /// <summary>The registry version the views are synced to; -1 before the first sync.</summary>
    public long SyncedVersion { get; private set; } = -1;

    /// <summary>The views, for the owning grain only (its writes iterate them; only the grain mutates them).</summary>
    internal IReadOnlyDictionary<string, LiveView> Views => _views;

    internal bool TryGetView(string name, out LiveView view) => _views.TryGetValue(name, out view!);

    internal void Set(string name, LiveView view)
    {
        lock (_gate)
        {
            _views[name] = view;
        }
    }

    internal void RemoveAllBut(HashSet<string> keep)
    {
        lock (_gate)
        {
            // No .Keys: it would cache a KeyCollection on every entity's dictionary; removing while enumerating is allowed.
            foreach (var (name, _) in _views)
            {
                if (!keep.Contains(name))
                {
                    _views.Remove(name);
                }
            }
        }
    }

    /// <summary>The grain starts to sync its views: until <see cref="MarkSynced"/>, <see cref="TryApplyInPlace"/> refuses.</summary>
    internal void BeginSync()
    {
        lock (_gate)
        {
            _syncing = true;
        }
    }

    internal void MarkSynced(long version)
    {
        lock (_gate)
        {
            SyncedVersion = version;
            _syncing = false;
        }
    }

    /// <summary>
    /// Applies events <c>events[indexes[j]]</c> to this entity from outside its grain's turn (a partition ingester on
    /// this silo), in order, each under the lock (a lookup waits for one event at most), with the outcome
    /// <see cref="ToOutcome"/> gives the grain's own apply. Stops at the first event the grain must apply instead:
    /// it is retired (deactivating, or its memory is ahead of storage), syncing its views, or synced to a registry
    /// version older than <paramref name="registryVersion"/>. <paramref name="arrivalMs"/> is this silo's clock, as the
    /// grain's own apply passes it (a view's watermark never passes it). Returns how many were applied; those are in this
    /// activation, and its final write or a checkpoint of (<see cref="Epoch"/>, <paramref name="sequence"/>) makes
    /// them durable: retiring takes the same lock, so an apply lands before the last write packs the views or is
    /// refused.
    /// </summary>
    internal int TryApplyInPlace(
        long registryVersion, string source, IReadOnlyList<FeatureEvent?> events, ReadOnlySpan<int> indexes, long arrivalMs, Span<EventOutcome> outcomes, out long sequence)
    {
        sequence = 0;
        for (var j = 0; j < indexes.Length; j++)
        {
            BeforeApplyInPlace?.Invoke(j);
            lock (_gate)
            {
                if (_retired || _syncing || SyncedVersion < registryVersion)
                {
                    return j;
                }

                outcomes[j] = ToOutcome(ApplyLocked(source, events[indexes[j]]!, arrivalMs, out _), source);
                sequence = _applied;
            }
        }

        return indexes.Length;
    }

    /// <summary>
    /// A test seam, null outside tests: called by <see cref="TryApplyInPlace"/> with the position <c>j</c> of each event
    /// before it takes the lock for it, so a test can make the activation refuse part-way through a delivery (retire it,
    /// start a sync) at a chosen event, as a deactivation or a sync on the grain's turn may at any event.
    /// </summary>
    internal Action<int>? BeforeApplyInPlace { get; set; }

    /// <summary>An event's outcome in this entity from its views' merged outcomes.</summary>
    internal EventOutcome ToOutcome(ApplyOutcomeMerge merge, string source) =>
        !merge.Reached ? new EventOutcome(EventOutcomeKind.Rejected, $"entity type '{EntityType}' has no feature view fed by source '{source}'")
        : merge.Result switch
        {
            ApplyOutcome.Accepted => EventOutcome.Accepted,
            ApplyOutcome.Late => LateOutcome,
            _ => EventOutcome.Duplicate,
        };

    private static readonly EventOutcome LateOutcome = new(EventOutcomeKind.Late, null);

    /// <summary>
    /// Applies one event to every view fed by <paramref name="source"/>, atomically for readers. The outcomes of the
    /// views combine by core's one rule (<see cref="ApplyOutcomeMerge"/>); <see cref="ApplyOutcomeMerge.Reached"/> is
    /// false when no view is fed by the source. <paramref name="arrivalMs"/> is the clock at apply: a view's watermark
    /// never passes it (core/Engine/README.md, "Event time, watermark and lateness").
    /// </summary>
    internal ApplyOutcomeMerge Apply(string source, FeatureEvent featureEvent, long arrivalMs, out bool changed) =>
        Apply(source, featureEvent, arrivalMs, out changed, out _);

    /// <summary><see cref="Apply(string, FeatureEvent, long, out bool)"/>, with the apply sequence after it: the receipt a checkpoint proves written.</summary>
    internal ApplyOutcomeMerge Apply(string source, FeatureEvent featureEvent, long arrivalMs, out bool changed, out long sequence)
    {
        lock (_gate)
        {
            var merge = ApplyLocked(source, featureEvent, arrivalMs, out changed);
            sequence = _applied;
            return merge;
        }
    }

    private ApplyOutcomeMerge ApplyLocked(string source, FeatureEvent featureEvent, long arrivalMs, out bool changed)
    {
        var merge = default(ApplyOutcomeMerge);
        changed = false;
        var sequence = _applied + 1;
        foreach (var (_, view) in _views)
        {
            if (!string.Equals(view.State.View.Definition.Source.Name, source, StringComparison.Ordinal))
            {
                continue;
            }

            var outcome = view.State.Apply(featureEvent, arrivalMs);
            merge.Add(outcome);
            // A late event is counted in the view's state, so the view has something to write.
            if (outcome != ApplyOutcome.Duplicate)
            {
                view.ChangedAt = sequence;
                changed = true;
            }
        }

        if (changed)
        {
            _applied = sequence;
        }

        return merge;
    }

    /// <summary>No more reads from outside the grain: it is deactivating, or its memory is ahead of storage.</summary>
    internal void Retire()
    {
        lock (_gate)
        {
            _retired = true;
        }
    }

    /// <summary>
    /// Reads from outside the grain. False when the grain must answer instead: it is retired, or synced to an older
    /// registry version than <paramref name="registryVersion"/> (the grain catches up first).
    /// </summary>
    public bool TryRead(long registryVersion, FeatureRefList features, long nowMs, Span<FeatureReading> into)
    {
        lock (_gate)
        {
            if (_retired || SyncedVersion < registryVersion)
            {
                return false;
            }

            ReadLocked(features, nowMs, into);
            return true;
        }
    }

    /// <summary>Reads within the grain's turn; under the lock, as an ingester may apply in place meanwhile.</summary>
    internal void Read(FeatureRefList features, long nowMs, Span<FeatureReading> into)
    {
        lock (_gate)
        {
            ReadLocked(features, nowMs, into);
        }
    }

    private void ReadLocked(FeatureRefList features, long nowMs, Span<FeatureReading> into)
    {
        // A service's features mostly come from one view in a row: look a view up once per run, not once per feature.
        string? viewName = null;
        LiveView? view = null;
        for (var i = 0; i < into.Length; i++)
        {
            if (!string.Equals(features.Views[i], viewName, StringComparison.Ordinal))
            {
                viewName = features.Views[i];
                view = _views.GetValueOrDefault(viewName);
            }

            if (view is null || !view.HasEvents)
            {
                into[i] = new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0);
                continue;
            }

            var index = view.State.View.IndexOf(features.Features[i]);
            into[i] = index < 0 ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0) : view.State.Read(index, nowMs);
        }
    }
}

/// <summary>
/// An entity activation's durable write, run from outside its grain's turn by a partition ingester on the same silo (a
/// checkpoint in place: no Orleans message). Serialized with the grain's own writes, view syncs and deactivation; see
/// <c>EntityGrain</c> and docs/durability.md.
/// </summary>
internal interface IInPlaceCheckpoint
{
    /// <summary>
    /// Makes this activation's applies through <paramref name="sequence"/> durable, as the grain's <c>Checkpoint</c> does:
    /// true once written, false when they cannot be (never, for a receipt of this activation). Null when the grain must
    /// answer instead: the receipt is another activation's, or this one is deactivating or failed a write (a grain call
    /// reaches the next activation, which answers from what this one wrote). A failed write throws, as the grain's does.
    /// </summary>
    ValueTask<bool?> TryCheckpointInPlaceAsync(long epoch, long sequence);
}
