using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>The entity calls a checkpoint makes (grain calls in a silo; fakes in tests).</summary>
internal interface ICheckpointedEntities
{
    /// <summary>Applies kept events again (<see cref="IEntityGrain.Ingest"/>).</summary>
    Task<IngestReceipt> Ingest(string grainKey, long registryVersion, string source, FeatureEvent[] events);

    /// <summary>
    /// Makes an entity durable through a receipt (<see cref="IEntityGrain.Checkpoint"/>; in a silo, in place for an entity
    /// active on it, which completes synchronously when the receipt is written already).
    /// </summary>
    ValueTask<bool> Checkpoint(string grainKey, long epoch, long sequence);
}

/// <summary>
/// A partition's checkpointing when its ingester holds the commit gate: keeps every entity applied since the last
/// checkpoint began (its events and newest receipt), writes them all at most once per
/// <see cref="IngestionOptions.CheckpointInterval"/> (a bounded number of calls in flight; the storage groups the writes),
/// then reports the partition durable through the last delivery applied before the checkpoint began. An entity that
/// lost its events (its activation went away unwritten, or its write failed) gets them again and is checkpointed again,
/// with back-off, until it is durable; meanwhile deliveries go on until
/// <see cref="IngestionOptions.MaxUncheckpointedEntities"/> entities wait, then wait for the checkpoint in flight
/// (back-pressure). Plain code: the grain calls are behind <see cref="ICheckpointedEntities"/>, so it is tested without a
/// cluster (docs/durability.md).
/// </summary>
internal sealed partial class PartitionCheckpoints(
    string partition,
    ICheckpointedEntities entities,
    CommitGateLease gate,
    IngestionOptions options,
    RetryBackoff backoff,
    TimeProvider clock,
    ILogger logger)
{
    /// <summary>The back-off of an entity that is not durable yet: 100 ms doubling to 5 s, retried until it is.</summary>
    public static readonly RetryBackoff EntityRetry = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

    // Cancelled when the ingester goes: retries stop, and what is not durable stays uncommitted.
    private readonly CancellationTokenSource _stopping = new();

    private Dictionary<string, UnwrittenEntity> _unwritten = new(StringComparer.Ordinal);

    // What a finished checkpoint leaves to the next one: its emptied dictionary and its entities, reset. Ingestion runs
    // through checkpoints back to back, so a new dictionary and a new object per entity per checkpoint are young objects
    // that always outlive a gen0 GC (they are held until the checkpoint that writes them finishes, 1-3 s); reused ones
    // are already old, and a gen0 GC copies only the events they hold (docs/benchmarks.md, "What survives a gen0 GC").
    private Dictionary<string, UnwrittenEntity>? _spare;
    private readonly Stack<UnwrittenEntity> _spareEntities = new();
    private Task? _checkpoint;
    private long _lastCheckpoint = clock.GetTimestamp();

    /// <summary>Entities applied and not yet in a checkpoint.</summary>
    public int Unwritten => _unwritten.Count;

    /// <summary>Keeps the receipts of a delivery (one per entity and source; epoch 0 for a call that failed) until a checkpoint makes them durable.</summary>
    public void Keep(IReadOnlyList<IngestedBatch> receipts, long registryVersion)
    {
        foreach (var batch in receipts)
        {
            if (!_unwritten.TryGetValue(batch.GrainKey, out var entity))
            {
                _unwritten[batch.GrainKey] = entity = _spareEntities.TryPop(out var spare) ? spare : new UnwrittenEntity();
            }

            entity.Add(batch, registryVersion);
        }
    }

    /// <summary>
    /// After a delivery through <paramref name="through"/> was applied under the gate: waits for the checkpoint in
    /// flight when too many entities are unwritten (the replay window and the memory ahead of storage stay bounded),
    /// and starts the next checkpoint when it is due.
    /// </summary>
    public async Task AfterDeliveryAsync(long through)
    {
        gate.Applied(through);
        if (_checkpoint is { IsCompleted: false } running && _unwritten.Count >= options.MaxUncheckpointedEntities)
        {
            await running;
        }

        StartIfDue(force: _unwritten.Count >= options.MaxUncheckpointedEntities);
    }

    /// <summary>Starts a checkpoint when one is due (or <paramref name="force"/>d), none is in flight and something is unwritten; not awaited.</summary>
    public void StartIfDue(bool force)
    {
        if (!gate.IsHeld || gate.IsFailed || _unwritten.Count == 0 || _checkpoint is { IsCompleted: false })
        {
            return;
        }

        if (force || clock.GetElapsedTime(_lastCheckpoint) >= options.CheckpointInterval)
        {
            // Not awaited: deliveries go on while the entities write (in a grain, their continuations run on its turns).
            _checkpoint = CheckpointAsync();
        }
    }

    /// <summary>Waits for the checkpoint in flight, then checkpoints the rest (unless a checkpoint failed).</summary>
    public async Task FlushAsync()
    {
        if (_checkpoint is { } running)
        {
            await running;
        }

        if (_unwritten.Count > 0 && !gate.IsFailed)
        {
            await CheckpointAsync();
        }
    }

    /// <summary>The ingester is going: entities still not durable after <paramref name="grace"/> (or once <paramref name="cancellationToken"/> fires) are given up.</summary>
    public CancellationTokenRegistration StopAfter(TimeSpan grace, CancellationToken cancellationToken)
    {
        _stopping.CancelAfter(grace);
        return cancellationToken.Register(_stopping.Cancel);
    }

    /// <summary>
    /// Writes every entity applied since the previous checkpoint began, then reports the partition durable through the
    /// last delivery applied before this began. Only an entity that still cannot be made durable when the ingester is
    /// going fails the gate: the partition's commits stop before it, until its next reader replays it.
    /// </summary>
    private async Task CheckpointAsync()
    {
        _lastCheckpoint = clock.GetTimestamp();
        var checkpointed = _unwritten;
        var through = gate.AppliedThrough;
        _unwritten = _spare ?? new Dictionary<string, UnwrittenEntity>(Math.Max(16, checkpointed.Count), StringComparer.Ordinal);
        _spare = null;
        var started = clock.GetTimestamp();
        var tally = new CheckpointTally(new SemaphoreSlim(options.MaxEntityCallsInFlight));
        // Not on the ingestion lane: a checkpoint mostly waits for storage, and a lane worker held across those waits
        // made deliveries queue behind fsyncs and cut write grouping (docs/benchmarks.md, issue #22).
        using (tally.Slots)
        {
            var calls = new Task[checkpointed.Count];
            var next = 0;
            foreach (var (grainKey, entity) in checkpointed)
            {
                await tally.Slots.WaitAsync();
                calls[next++] = MakeDurableAsync(grainKey, entity, tally);
            }

            await Task.WhenAll(calls);
        }

        FeatureStoreMetrics.Checkpoints.Add(1);
        FeatureStoreMetrics.CheckpointDuration.Record(clock.GetElapsedTime(started).TotalMilliseconds);
        var entities = checkpointed.Count;
        Recycle(checkpointed);
        if (tally.Lost > 0)
        {
            FeatureStoreMetrics.CheckpointFailures.Add(1);
            LogCheckpointFailed(logger, tally.FirstError, partition, tally.Lost, entities, tally.FirstLost!);
            gate.Fail();
            return;
        }

        LogCheckpointed(logger, partition, entities, through, gate.IsClosed);
        gate.Durable(through);
    }

    // Every entity call of the checkpoint has finished: nothing refers to its dictionary or entities any more.
    private void Recycle(Dictionary<string, UnwrittenEntity> checkpointed)
    {
        foreach (var (_, entity) in checkpointed)
        {
            if (_spareEntities.Count < options.MaxUncheckpointedEntities && entity.Reset())
            {
                _spareEntities.Push(entity);
            }
        }

        checkpointed.Clear();
        _spare = checkpointed;
    }

    /// <summary>
    /// Checkpoints one entity, giving it its kept events again when it lost them, and retrying with back-off until it
    /// is durable: while storage or the entity's silo is down, this checkpoint stays in flight. Once durable, releases
    /// its slot; if the ingester is going first, counts the entity as lost in <paramref name="tally"/> with the last error.
    /// </summary>
    private async Task MakeDurableAsync(string grainKey, UnwrittenEntity entity, CheckpointTally tally)
    {
        try
        {
            // Only an entity that is not durable needs an error to report, so none is made on the way to a durable one
            // (one formatted exception per entity checkpointed was ~2,000 live objects at a time while ingesting).
            Exception? error = null;
            for (var attempt = 0; ; attempt++)
            {
                if (_stopping.IsCancellationRequested)
                {
                    tally.Lose(grainKey, error ?? LostEvents(grainKey));
                    return;
                }

                try
                {
                    if (attempt > 0 || entity.NeedsReapply)
                    {
                        // The activation that applied them is gone unwritten (its silo died), or its write failed and it
                        // deactivated: a new activation loads the durable state and applies the kept events again (what
                        // it already holds counts as duplicate).
                        FeatureStoreMetrics.CheckpointReplays.Add(1);
                        if ((attempt & (attempt - 1)) == 0)
                        {
                            LogReplayingEntity(logger, error ?? LostEvents(grainKey), partition, grainKey, entity.EventCount, attempt);
                        }

                        var receipts = new List<IngestReceipt>(entity.Batches.Count);
                        for (var i = 0; i < entity.Batches.Count; i++)
                        {
                            var (source, version, _, _) = entity.Batches[i];
                            receipts.Add(await entities.Ingest(grainKey, version, source, entity.EventsOf(i)));
                        }

                        if (!entity.Reapplied(receipts))
                        {
                            // The entity reactivated part-way: every batch again, into one activation, after the back-off.
                            throw new InvalidOperationException($"entity {grainKey} reactivated while its events were applied again");
                        }
                    }

                    if (await entities.Checkpoint(grainKey, entity.Epoch, entity.Sequence))
                    {
                        return;
                    }
                }
                catch (Exception exception)
                {
                    error = exception;
                    try
                    {
                        await Task.Delay(backoff.Delay(attempt), clock, _stopping.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        tally.Lose(grainKey, error);
                        return;
                    }
                }
            }
        }
        finally
        {
            tally.Slots.Release();
        }
    }

    private static InvalidOperationException LostEvents(string grainKey) =>
        new($"entity {grainKey} lost events it had applied before they were written");

    /// <summary>One checkpoint's bound on entity calls in flight, and the entities it could not make durable.</summary>
    private sealed class CheckpointTally(SemaphoreSlim slots)
    {
        private int _lost;
        private string? _firstLost;
        private Exception? _firstError;

        public SemaphoreSlim Slots { get; } = slots;

        public int Lost => Volatile.Read(ref _lost);

        public string? FirstLost => Volatile.Read(ref _firstLost);

        public Exception? FirstError => Volatile.Read(ref _firstError);

        public void Lose(string grainKey, Exception error)
        {
            Interlocked.Increment(ref _lost);
            Interlocked.CompareExchange(ref _firstLost, grainKey, null);
            Interlocked.CompareExchange(ref _firstError, error, null);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: checkpointed {Entities} entities, durable through sequence {Through} (gate closed: {Closed})")]
    private static partial void LogCheckpointed(ILogger logger, string partition, int entities, long through, bool closed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition {Partition}: entity {GrainKey} lost {Events} applied events before they were written (activation gone or write failed); applying them again (attempt {Attempt}; logged at attempts 1, 2, 4, 8, ...)")]
    private static partial void LogReplayingEntity(ILogger logger, Exception? exception, string partition, string grainKey, int events, int attempt);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Partition {Partition}: the deactivating ingester could not make {Lost} of {Entities} entities durable (first: {GrainKey}); commits stop before them and the partition's next reader replays them")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception? exception, string partition, int lost, int entities, string grainKey);
}

/// <summary>
/// An entity's events applied since the last checkpoint began, and the receipt of its newest apply. The events of
/// every batch are kept in one list (a batch is a range of it), not in the delivery's array per batch: a checkpoint
/// reuses this object and its lists, so what a kept batch adds to the heap is the events themselves.
/// </summary>
internal sealed class UnwrittenEntity
{
    // Beyond these a reset entity is dropped rather than reused, so a burst onto one entity is not held for good.
    private const int MaxReusedBatches = 64;
    private const int MaxReusedEvents = 256;

    private readonly List<FeatureEvent> _events = [];

    /// <summary>The kept batches in the order they were applied: each a range of the kept events (<see cref="EventsOf"/>).</summary>
    public List<(string Source, long RegistryVersion, int Start, int Count)> Batches { get; } = [];

    public long Epoch { get; set; }

    public long Sequence { get; set; }

    public int EventCount { get; private set; }

    /// <summary>Some kept events were never applied (their call failed): the checkpoint applies them all again first.</summary>
    public bool NeedsReapply { get; private set; }

    public void Add(IngestedBatch batch, long registryVersion)
    {
        Batches.Add((batch.Source, registryVersion, _events.Count, batch.Events.Length));
        _events.AddRange(batch.Events);
        EventCount += batch.Events.Length;
        if (batch.Epoch == 0)
        {
            NeedsReapply = true;
            return;
        }

        if (Epoch != 0 && batch.Epoch != Epoch)
        {
            // Another activation applied this batch: the one that applied the earlier batches went away (its silo
            // died, or it deactivated), and the newest receipt says nothing about what that one wrote. Checkpointing
            // only the newest receipt lost the earlier batches for good; apply them all again to the new activation,
            // which counts whatever it already loaded from storage as duplicate.
            NeedsReapply = true;
        }

        // Receipts of one activation may arrive out of order (an entity fed by two sources gets two calls at once):
        // the checkpoint must prove the newest apply, as Checkpoint answers a receipt already written without writing.
        Sequence = batch.Epoch == Epoch ? Math.Max(Sequence, batch.Sequence) : batch.Sequence;
        Epoch = batch.Epoch;
    }

    /// <summary>
    /// Empties this for reuse by a later checkpoint (it drops the kept events); false when its batch list grew so long
    /// that keeping it would hold more memory than a new one costs.
    /// </summary>
    public bool Reset()
    {
        var reusable = Batches.Capacity <= MaxReusedBatches && _events.Capacity <= MaxReusedEvents;
        Batches.Clear();
        _events.Clear();
        Epoch = 0;
        Sequence = 0;
        EventCount = 0;
        NeedsReapply = false;
        return reusable;
    }

    /// <summary>The events of kept batch <paramref name="index"/>, to apply again.</summary>
    public FeatureEvent[] EventsOf(int index)
    {
        var (_, _, start, count) = Batches[index];
        return CollectionsMarshal.AsSpan(_events).Slice(start, count).ToArray();
    }

    /// <summary>
    /// Records the receipts of applying every kept batch again; false when they did not all land in one activation
    /// (it changed during the replay), so the replay must run again before one receipt can stand for all of them.
    /// </summary>
    public bool Reapplied(IReadOnlyList<IngestReceipt> receipts)
    {
        var epoch = receipts[0].Epoch;
        for (var i = 1; i < receipts.Count; i++)
        {
            if (receipts[i].Epoch != epoch)
            {
                return false;
            }
        }

        Epoch = epoch;
        Sequence = receipts[^1].Sequence;
        NeedsReapply = false;
        return true;
    }
}
