using Orleans;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// Routed events grouped by entity: each entity grain gets all of its events of one source in one call, with at
/// most a bounded number of calls in flight, and every event gets one merged outcome. The executor shared by every
/// entrance (push, the partition ingester of Kafka and Event Hubs streams).
/// </summary>
internal sealed class EntityDispatch
{
    // Each entity's events as one segment of a single index array for the whole delivery, built on first use: a list
    // per entity and delivery was ~64 bytes of garbage per event at one event per entity. Until then, the pairs in
    // the order they were added.
    private readonly Dictionary<(string GrainKey, string Source), int> _groups = [];
    private readonly List<(string GrainKey, string Source)> _order = [];
    private readonly List<int> _groupCounts = [];
    private readonly List<(int Group, int Index)> _added = [];
    private ArraySegment<int>[]? _segments;

    public int Entities => _order.Count;

    /// <summary>The calls of this dispatch that go to <paramref name="grainKeys"/> (every source of each), to run again.</summary>
    public EntityDispatch Only(IEnumerable<string> grainKeys)
    {
        var keep = new HashSet<string>(grainKeys, StringComparer.Ordinal);
        var segments = Segments();
        var subset = new EntityDispatch();
        var kept = new List<ArraySegment<int>>();
        for (var group = 0; group < _order.Count; group++)
        {
            if (keep.Contains(_order[group].GrainKey))
            {
                subset._groups[_order[group]] = subset._order.Count;
                subset._order.Add(_order[group]);
                subset._groupCounts.Add(segments[group].Count);
                kept.Add(segments[group]);
            }
        }

        subset._segments = [.. kept];
        return subset;
    }

    /// <summary>Event <paramref name="index"/> (of the events later passed to <see cref="RunAsync"/>) touches the entity <paramref name="grainKey"/>.</summary>
    public void Add(string grainKey, string source, int index)
    {
        if (_segments is not null)
        {
            throw new InvalidOperationException("events cannot be added to a dispatch once it has run");
        }

        var key = (grainKey, source);
        if (!_groups.TryGetValue(key, out var group))
        {
            group = _order.Count;
            _groups[key] = group;
            _order.Add(key);
            _groupCounts.Add(0);
        }

        _groupCounts[group]++;
        _added.Add((group, index));
    }

    // The indexes of each entity's events, in the order they were added.
    private ArraySegment<int>[] Segments()
    {
        if (_segments is { } built)
        {
            return built;
        }

        var indexes = new int[_added.Count];
        var segments = new ArraySegment<int>[_order.Count];
        var next = new int[_order.Count];
        var start = 0;
        for (var group = 0; group < segments.Length; group++)
        {
            segments[group] = new ArraySegment<int>(indexes, start, _groupCounts[group]);
            next[group] = start;
            start += _groupCounts[group];
        }

        foreach (var (group, index) in _added)
        {
            indexes[next[group]++] = index;
        }

        _added.Clear();
        return _segments = segments;
    }

    /// <summary>
    /// Calls every entity grain, at most <paramref name="maxInFlight"/> at once, and merges the outcomes per event
    /// (an event may touch several entities). <paramref name="durable"/>: each call returns once its entity's state
    /// is written (<see cref="IEntityGrain.ApplyEvents"/>); otherwise once applied in memory
    /// (<see cref="IEntityGrain.Ingest"/>), with a receipt per entity for a later checkpoint. A failed call marks its events failed and is reported in
    /// <see cref="DispatchResult.Failures"/>; it never stops the other calls. Each successful call is recorded in
    /// <paramref name="freshness"/>, when given.
    /// <para>
    /// Not durable and given this silo's <paramref name="applyInPlace"/> index: an entity activated on this silo gets
    /// its events without a grain call, under its views' lock (<see cref="EntityViews.TryApplyInPlace"/>), with the
    /// same outcomes and a receipt of the same meaning; one that refuses (deactivating, syncing) is called as usual.
    /// </para>
    /// </summary>
    public async Task<DispatchResult> RunAsync(
        IGrainFactory grainFactory,
        long registryVersion,
        IReadOnlyList<FeatureEvent?> events,
        int maxInFlight,
        CancellationToken cancellationToken,
        bool durable = true,
        IngestionFreshness? freshness = null,
        LocalEntityIndex? applyInPlace = null,
        IngestionLane? lane = null,
        TimeProvider? clock = null)
    {
        var merged = new OutcomeMerge[events.Count];
        var failures = new List<(string GrainKey, Exception Error)>();
        var receipts = durable ? null : new List<IngestedBatch>(_order.Count);
        using var slots = new SemaphoreSlim(Math.Max(1, maxInFlight));
        var calls = new List<Task>(_order.Count);
        var inPlace = 0;
        var scratch = Array.Empty<EventOutcome>();
        // Applied in place, an event's arrival is this silo's clock at the delivery, as the grain's own apply takes it.
        var arrivalMs = (clock ?? TimeProvider.System).GetUtcNow().ToUnixTimeMilliseconds();
        var segments = Segments();
        List<((string GrainKey, string Source) Key, ArraySegment<int> Indexes)>? remote = null;
        if (receipts is not null && applyInPlace is not null)
        {
            // The CPU of a delivery: on one of the silo's ingestion worker threads (below request handling in priority)
            // while this turn waits. Grain calls for the rest are made back on the turn, so no worker waits for a silo.
            if (lane is null)
            {
                ApplyLocal();
            }
            else
            {
                await lane.RunAsync(static apply => { apply(); return true; }, (Action)ApplyLocal, cancellationToken);
            }
        }
        else
        {
            remote = new(_order.Count);
            for (var group = 0; group < _order.Count; group++)
            {
                remote.Add((_order[group], segments[group]));
            }
        }

        foreach (var (key, indexes) in remote ?? [])
        {
            await slots.WaitAsync(cancellationToken);
            calls.Add(CallAsync(key, indexes));
        }

        await Task.WhenAll(calls);
        return new DispatchResult(merged, failures, receipts, inPlace);

        void ApplyLocal()
        {
            for (var group = 0; group < _order.Count; group++)
            {
                var key = _order[group];
                var indexes = segments[group];
                var applied = applyInPlace!.TryGetByGrainKey(key.GrainKey, out var views) ? ApplyInPlace(views, key, indexes) : 0;
                if (applied > 0)
                {
                    inPlace++;
                }

                if (applied < indexes.Count)
                {
                    // Refused part-way (the activation is going, or syncing): the rest goes to the grain. Two receipts of
                    // two activations make the checkpoint apply all of them again, which is exact.
                    (remote ??= []).Add((key, indexes.Slice(applied)));
                }
            }
        }

        int ApplyInPlace(EntityViews views, (string GrainKey, string Source) key, ArraySegment<int> indexes)
        {
            // One scratch array for the whole delivery: applies in place run one after another, on one worker.
            if (scratch.Length < indexes.Count)
            {
                scratch = new EventOutcome[Math.Max(indexes.Count, 2 * scratch.Length)];
            }

            var applied = views.TryApplyInPlace(registryVersion, key.Source, events, indexes.AsSpan(), arrivalMs, scratch, out var sequence);
            if (applied == 0)
            {
                return 0;
            }

            var outcomes = scratch.AsSpan(0, applied);

            var batch = new FeatureEvent[applied];
            for (var j = 0; j < batch.Length; j++)
            {
                batch[j] = events[indexes[j]]!;
            }

            freshness?.RecordCall(key.Source, indexes.AsSpan(0, applied), outcomes);
            lock (merged)
            {
                receipts!.Add(new IngestedBatch(key.GrainKey, key.Source, batch, views.Epoch, sequence));
                for (var j = 0; j < applied; j++)
                {
                    merged[indexes[j]].Add(outcomes[j]);
                }
            }

            return applied;
        }

        async Task CallAsync((string GrainKey, string Source) key, ArraySegment<int> indexes)
        {
            var batch = new FeatureEvent[indexes.Count];
            for (var j = 0; j < batch.Length; j++)
            {
                batch[j] = events[indexes[j]]!;
            }

            try
            {
                var grain = EntityGrains.Get(grainFactory, key.GrainKey);
                EventOutcome[] outcomes;
                if (receipts is null)
                {
                    outcomes = await Cancellable(grain.ApplyEvents(registryVersion, key.Source, batch), cancellationToken);
                }
                else
                {
                    var receipt = await Cancellable(grain.Ingest(registryVersion, key.Source, batch), cancellationToken);
                    outcomes = receipt.Outcomes;
                    lock (merged)
                    {
                        receipts.Add(new IngestedBatch(key.GrainKey, key.Source, batch, receipt.Epoch, receipt.Sequence));
                    }
                }

                freshness?.RecordCall(key.Source, indexes.AsSpan(), outcomes);
                lock (merged)
                {
                    for (var j = 0; j < indexes.Count; j++)
                    {
                        merged[indexes[j]].Add(outcomes[j]);
                    }
                }
            }
            catch (Exception exception)
            {
                lock (merged)
                {
                    failures.Add((key.GrainKey, exception));
                    // Not applied: kept with epoch 0, so the checkpoint applies it again before it can count as durable.
                    receipts?.Add(new IngestedBatch(key.GrainKey, key.Source, batch, 0, 0));
                    foreach (var index in indexes)
                    {
                        merged[index].Fail();
                    }
                }
            }
            finally
            {
                slots.Release();
            }
        }
    }

    // A stream delivery cannot be cancelled: skip WaitAsync's extra task and continuation per entity call.
    private static Task<T> Cancellable<T>(Task<T> call, CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? call.WaitAsync(cancellationToken) : call;
}


/// <summary>The merged outcome of every dispatched event, the entity calls that failed, and (when not durable) the receipts to checkpoint.</summary>
internal sealed record DispatchResult(
    OutcomeMerge[] Outcomes,
    List<(string GrainKey, Exception Error)> Failures,
    List<IngestedBatch>? Receipts,
    int AppliedInPlace = 0);

/// <summary>Events one entity applied in memory through <see cref="IEntityGrain.Ingest"/>, and its receipt; epoch 0 when the call failed and nothing was applied.</summary>
internal sealed record IngestedBatch(string GrainKey, string Source, FeatureEvent[] Events, long Epoch, long Sequence);

/// <summary>
/// Combines the outcomes of the entities one event reached: a failure wins, then a rejection; otherwise core's rule
/// (<see cref="ApplyOutcomeMerge"/>: accepted by any, late only when late in every one, else a duplicate).
/// </summary>
internal struct OutcomeMerge
{
    private ApplyOutcomeMerge _applied;
    private bool _failed;
    private bool _reached;
    private string? _rejection;

    public void Add(EventOutcome outcome)
    {
        _reached = true;
        switch (outcome.Kind)
        {
            case EventOutcomeKind.Accepted: _applied.Add(ApplyOutcome.Accepted); break;
            case EventOutcomeKind.Duplicate: _applied.Add(ApplyOutcome.Duplicate); break;
            case EventOutcomeKind.Late: _applied.Add(ApplyOutcome.Late); break;
            case EventOutcomeKind.Rejected: _rejection ??= outcome.Reason; break;
        }
    }

    public void Fail() => _failed = true;

    /// <summary>
    /// This event's outcome once the entity calls that failed were made again with the same events
    /// (<paramref name="retry"/>: the merge of those calls only, which cover every entity whose call had failed): what
    /// the other entities answered before, with what the retried ones answer now. An entity that had applied the event
    /// before its call failed answers DUPLICATE now.
    /// </summary>
    public readonly OutcomeMerge WithRetry(OutcomeMerge retry)
    {
        if (!_failed || !retry.Reached)
        {
            return this;
        }

        var merged = this;
        merged._failed = retry._failed;
        merged._rejection ??= retry._rejection;
        if (retry._applied.Reached)
        {
            // Exact: an ApplyOutcomeMerge's result orders its outcomes (accepted, then duplicate, then late only).
            merged._applied.Add(retry._applied.Result);
        }

        return merged;
    }

    /// <summary>False for an event no entity call covered (it was not dispatched).</summary>
    public readonly bool Reached => _reached || _failed;

    public readonly bool Failed => _failed;

    /// <summary>
    /// The event's one result, the type every entrance answers and counts (<see cref="OutcomeTally"/>). A failed entity
    /// call is never FAILED ("not applied"): a silo killed after writing, or a write whose acknowledgement was lost,
    /// fails the call with the event applied. Fixed reason text: the exception is logged by the caller.
    /// </summary>
    public readonly RoutedEventResult ToResult() =>
        _failed ? new(RoutedEventStatus.UnknownOutcome, EventRouter.GrainFailureReason)
        : _rejection is not null ? new(RoutedEventStatus.Rejected, _rejection)
        : _applied.Result switch
        {
            ApplyOutcome.Accepted => new(RoutedEventStatus.Accepted, null),
            ApplyOutcome.Late => new(RoutedEventStatus.Late, "older than the watermark minus the allowed lateness in every view it reached"),
            _ => new(RoutedEventStatus.Duplicate, null),
        };
}
