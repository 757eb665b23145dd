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

    /// <summary>Makes an entity durable through a receipt (<see cref="IEntityGrain.Checkpoint"/>).</summary>
    Task<bool> Checkpoint(string grainKey, long epoch, long sequence);
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
                _unwritten[batch.GrainKey] = entity = new UnwrittenEntity();
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
        _unwritten = new Dictionary<string, UnwrittenEntity>(Math.Max(16, checkpointed.Count), StringComparer.Ordinal);
        var started = clock.GetTimestamp();
        var lost = 0;
        string? firstLost = null;
        Exception? firstError = null;
        // Not on the ingestion lane: a checkpoint mostly waits for storage, and a lane worker held across those waits
        // made deliveries queue behind fsyncs and cut write grouping (docs/benchmarks.md, issue #22).
        using (var slots = new SemaphoreSlim(options.MaxEntityCallsInFlight))
        {
            var calls = new List<Task>(checkpointed.Count);
            foreach (var (grainKey, entity) in checkpointed)
            {
                await slots.WaitAsync();
                calls.Add(WriteAsync(grainKey, entity));
            }

            await Task.WhenAll(calls);

            async Task WriteAsync(string grainKey, UnwrittenEntity entity)
            {
                try
                {
                    if (await MakeDurableAsync(grainKey, entity) is { } error)
                    {
                        Interlocked.Increment(ref lost);
                        Interlocked.CompareExchange(ref firstLost, grainKey, null);
                        Interlocked.CompareExchange(ref firstError, error, null);
                    }
                }
                finally
                {
                    slots.Release();
                }
            }
        }

        FeatureStoreMetrics.Checkpoints.Add(1);
        FeatureStoreMetrics.CheckpointDuration.Record(clock.GetElapsedTime(started).TotalMilliseconds);
        if (lost > 0)
        {
            FeatureStoreMetrics.CheckpointFailures.Add(1);
            LogCheckpointFailed(logger, firstError, partition, lost, checkpointed.Count, firstLost!);
            gate.Fail();
            return;
        }

        LogCheckpointed(logger, partition, checkpointed.Count, through, gate.IsClosed);
        gate.Durable(through);
    }

    /// <summary>
    /// Checkpoints one entity, giving it its kept events again when it lost them, and retrying with back-off until it
    /// is durable: while storage or the entity's silo is down, this checkpoint stays in flight. Null once durable; the
    /// last error if the ingester is going first.
    /// </summary>
    private async Task<Exception?> MakeDurableAsync(string grainKey, UnwrittenEntity entity)
    {
        Exception error = new InvalidOperationException($"entity {grainKey} lost events it had applied before they were written");
        for (var attempt = 0; ; attempt++)
        {
            if (_stopping.IsCancellationRequested)
            {
                return error;
            }

            try
            {
                if (attempt > 0 || entity.NeedsReapply)
                {
                    // The activation that applied them is gone unwritten (its silo died), or its write failed and it
                    // deactivated: a new activation loads the durable state and applies the kept events again (what it
                    // already holds counts as duplicate).
                    FeatureStoreMetrics.CheckpointReplays.Add(1);
                    if ((attempt & (attempt - 1)) == 0)
                    {
                        LogReplayingEntity(logger, error, partition, grainKey, entity.EventCount, attempt);
                    }

                    var receipts = new List<IngestReceipt>(entity.Batches.Count);
                    foreach (var (source, version, events) in entity.Batches)
                    {
                        receipts.Add(await entities.Ingest(grainKey, version, source, events));
                    }

                    if (!entity.Reapplied(receipts))
                    {
                        // The entity reactivated part-way: every batch again, into one activation, after the back-off.
                        throw new InvalidOperationException($"entity {grainKey} reactivated while its events were applied again");
                    }
                }

                if (await entities.Checkpoint(grainKey, entity.Epoch, entity.Sequence))
                {
                    return null;
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
                    return error;
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Partition {Partition}: checkpointed {Entities} entities, durable through sequence {Through} (gate closed: {Closed})")]
    private static partial void LogCheckpointed(ILogger logger, string partition, int entities, long through, bool closed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Partition {Partition}: entity {GrainKey} lost {Events} applied events before they were written (activation gone or write failed); applying them again (attempt {Attempt}; logged at attempts 1, 2, 4, 8, ...)")]
    private static partial void LogReplayingEntity(ILogger logger, Exception? exception, string partition, string grainKey, int events, int attempt);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Partition {Partition}: the deactivating ingester could not make {Lost} of {Entities} entities durable (first: {GrainKey}); commits stop before them and the partition's next reader replays them")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception? exception, string partition, int lost, int entities, string grainKey);
}

/// <summary>An entity's events applied since the last checkpoint began, and the receipt of its newest apply.</summary>
internal sealed class UnwrittenEntity
{
    public List<(string Source, long RegistryVersion, FeatureEvent[] Events)> Batches { get; } = [];

    public long Epoch { get; set; }

    public long Sequence { get; set; }

    public int EventCount { get; private set; }

    /// <summary>Some kept events were never applied (their call failed): the checkpoint applies them all again first.</summary>
    public bool NeedsReapply { get; private set; }

    public void Add(IngestedBatch batch, long registryVersion)
    {
        Batches.Add((batch.Source, registryVersion, batch.Events));
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
