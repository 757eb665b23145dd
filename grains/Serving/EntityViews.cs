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
            foreach (var name in _views.Keys.ToList())
            {
                if (!keep.Contains(name))
                {
                    _views.Remove(name);
                }
            }
        }
    }

    internal void MarkSynced(long version)
    {
        lock (_gate)
        {
            SyncedVersion = version;
        }
    }

    /// <summary>
    /// Applies one event to every view fed by <paramref name="source"/>, atomically for readers. The outcomes of the
    /// views combine by core's one rule (<see cref="ApplyOutcomeMerge"/>); <see cref="ApplyOutcomeMerge.Reached"/> is
    /// false when no view is fed by the source. <paramref name="arrivalMs"/> is the clock at apply: a view's watermark
    /// never passes it (core/Engine/README.md, "Event time, watermark and lateness").
    /// </summary>
    internal ApplyOutcomeMerge Apply(string source, FeatureEvent featureEvent, long arrivalMs, out bool changed)
    {
        var merge = default(ApplyOutcomeMerge);
        changed = false;
        lock (_gate)
        {
            foreach (var view in _views.Values)
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
                    view.Dirty = true;
                    changed = true;
                }
            }
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

            Read(features, nowMs, into);
            return true;
        }
    }

    /// <summary>Reads within the grain's turn (no other mutation can run then).</summary>
    internal void Read(FeatureRefList features, long nowMs, Span<FeatureReading> into)
    {
        for (var i = 0; i < into.Length; i++)
        {
            if (!_views.TryGetValue(features.Views[i], out var view) || !view.HasEvents)
            {
                into[i] = new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0);
                continue;
            }

            var index = view.State.View.IndexOf(features.Features[i]);
            into[i] = index < 0 ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0) : view.State.Read(index, nowMs);
        }
    }
}
