using Microsoft.Extensions.Logging.Abstractions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Streaming.Kafka;
using Xunit;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// The stream path's durability without a cluster: checkpointing with its replay and back-pressure
/// (<see cref="PartitionCheckpoints"/>), the commit-gate lease, and the one back-off rule (docs/durability.md).
/// </summary>
public sealed class PartitionCheckpointsTests
{
    private static readonly FeatureEvent[] Events = [new("e1", 1_800_000_000_000, new Dictionary<string, ScalarValue>())];
    private static readonly RetryBackoff Quick = new(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(4));

    [Fact]
    public void The_back_off_doubles_from_its_first_wait_up_to_its_bound()
    {
        var backoff = new RetryBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5));

        Assert.Equal([100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000], Enumerable.Range(0, 8).Select(a => backoff.Delay(a).TotalMilliseconds));
        Assert.Equal(TimeSpan.FromSeconds(5), backoff.Delay(int.MaxValue));
    }

    [Fact]
    public void A_lease_holds_the_gate_it_finds_and_numbers_deliveries_from_each_new_gate()
    {
        var first = new FakeGate();
        FakeGate? here = null;
        var lease = new CommitGateLease(() => here);

        Assert.False(lease.TryHold());
        here = first;
        Assert.True(lease.TryHold());
        Assert.False(lease.TryHold());
        lease.Applied(7);
        first.Closed = true;
        Assert.True(lease.IsClosed);

        lease.Drop();
        here = new FakeGate();
        Assert.True(lease.TryHold());
        Assert.True(first.Held && here.Held);
        Assert.Equal(-1, lease.AppliedThrough);
    }

    [Fact]
    public async Task A_checkpoint_writes_every_kept_entity_then_reports_durable_through_the_last_delivery_before_it()
    {
        var (gate, lease, entities, checkpoints) = Start(new IngestionOptions { CheckpointInterval = TimeSpan.Zero });
        checkpoints.Keep([Batch("user/u1", epoch: 7, sequence: 1), Batch("user/u2", epoch: 8, sequence: 3)], registryVersion: 1);

        await checkpoints.AfterDeliveryAsync(through: 41);
        await checkpoints.FlushAsync();

        Assert.Equal(41, gate.DurableThrough);
        Assert.Equal(["user/u1@7:1", "user/u2@8:3"], entities.Checkpoints.Order());
        Assert.Empty(entities.Ingests);
        Assert.Equal(0, checkpoints.Unwritten);
    }

    [Fact]
    public async Task An_entity_that_lost_its_events_gets_them_again_before_the_partition_is_reported_durable()
    {
        var (gate, _, entities, checkpoints) = Start(new IngestionOptions { CheckpointInterval = TimeSpan.Zero });
        entities.LostOnce.Add("user/u1");
        checkpoints.Keep([Batch("user/u1", epoch: 7, sequence: 1)], registryVersion: 1);

        await checkpoints.AfterDeliveryAsync(through: 5);
        await checkpoints.FlushAsync();

        Assert.Equal(["user/u1"], entities.Ingests);
        Assert.Equal(["user/u1@7:1", "user/u1@99:1"], entities.Checkpoints);
        Assert.Equal(5, gate.DurableThrough);
    }

    [Fact]
    public async Task A_failed_call_is_applied_again_by_the_checkpoint_before_anything_is_durable()
    {
        var (gate, _, entities, checkpoints) = Start(new IngestionOptions { CheckpointInterval = TimeSpan.Zero });
        checkpoints.Keep([Batch("user/u1", epoch: 0, sequence: 0)], registryVersion: 1);

        await checkpoints.AfterDeliveryAsync(through: 2);
        await checkpoints.FlushAsync();

        Assert.Equal(["user/u1"], entities.Ingests);
        Assert.Equal(["user/u1@99:1"], entities.Checkpoints);
        Assert.Equal(2, gate.DurableThrough);
    }

    [Fact]
    public async Task Deliveries_wait_for_the_checkpoint_in_flight_once_too_many_entities_are_unwritten()
    {
        var (gate, _, entities, checkpoints) = Start(new IngestionOptions { CheckpointInterval = TimeSpan.Zero, MaxUncheckpointedEntities = 2 });
        entities.Hold = new TaskCompletionSource();
        checkpoints.Keep([Batch("user/u1", 7, 1)], registryVersion: 1);
        await checkpoints.AfterDeliveryAsync(through: 1);

        checkpoints.Keep([Batch("user/u2", 8, 1), Batch("user/u3", 9, 1)], registryVersion: 1);
        var delivery = checkpoints.AfterDeliveryAsync(through: 2);

        Assert.False(delivery.IsCompleted);
        Assert.Equal(-1, gate.DurableThrough);
        entities.Hold.SetResult();
        await delivery.WaitAsync(TimeSpan.FromSeconds(10));
        await checkpoints.FlushAsync();
        Assert.Equal(2, gate.DurableThrough);
    }

    [Fact]
    public async Task A_checkpoint_is_not_started_before_its_interval_unless_forced()
    {
        var (gate, _, _, checkpoints) = Start(new IngestionOptions { CheckpointInterval = TimeSpan.FromHours(1) });
        checkpoints.Keep([Batch("user/u1", 7, 1)], registryVersion: 1);

        await checkpoints.AfterDeliveryAsync(through: 3);
        Assert.Equal(-1, gate.DurableThrough);

        checkpoints.StartIfDue(force: true);
        await checkpoints.FlushAsync();
        Assert.Equal(3, gate.DurableThrough);
    }

    [Fact]
    public async Task An_ingester_that_is_going_gives_up_on_an_entity_it_cannot_make_durable_and_fails_the_gate()
    {
        var (gate, lease, entities, checkpoints) = Start(new IngestionOptions { CheckpointInterval = TimeSpan.FromHours(1) });
        entities.AlwaysFail = true;
        checkpoints.Keep([Batch("user/u1", 7, 1)], registryVersion: 1);
        await checkpoints.AfterDeliveryAsync(through: 3);

        using (checkpoints.StopAfter(TimeSpan.FromMilliseconds(50), CancellationToken.None))
        {
            await checkpoints.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.True(gate.Failed);
        Assert.True(lease.IsFailed);
        Assert.Equal(-1, gate.DurableThrough);
    }

    private static (FakeGate Gate, CommitGateLease Lease, FakeEntities Entities, PartitionCheckpoints Checkpoints) Start(IngestionOptions options)
    {
        var gate = new FakeGate();
        var lease = new CommitGateLease(() => gate);
        Assert.True(lease.TryHold());
        var entities = new FakeEntities();
        return (gate, lease, entities, new PartitionCheckpoints("plays/0", entities, lease, options, Quick, TimeProvider.System, NullLogger.Instance));
    }

    private static IngestedBatch Batch(string grainKey, long epoch, long sequence) => new(grainKey, "plays", Events, epoch, sequence);

    private sealed class FakeGate : IStreamCommitGate
    {
        public bool Held { get; private set; }

        public bool Failed { get; private set; }

        public long DurableThrough { get; private set; } = -1;

        public bool Closed { get; set; }

        public bool IsClosed => Closed;

        public void Hold() => Held = true;

        public void Durable(long sequenceNumber) => DurableThrough = Math.Max(DurableThrough, sequenceNumber);

        public void Fail() => Failed = true;

        public void Release() => Held = false;
    }

    /// <summary>Entities that write when asked, except those told to have lost their events once; a replay lands in activation 99.</summary>
    private sealed class FakeEntities : ICheckpointedEntities
    {
        public List<string> Ingests { get; } = [];

        public List<string> Checkpoints { get; } = [];

        public HashSet<string> LostOnce { get; } = [];

        public TaskCompletionSource? Hold { get; set; }

        public bool AlwaysFail { get; set; }

        public Task<IngestReceipt> Ingest(string grainKey, long registryVersion, string source, FeatureEvent[] events)
        {
            lock (Ingests)
            {
                Ingests.Add(grainKey);
            }

            return Task.FromResult(new IngestReceipt([.. events.Select(_ => EventOutcome.Duplicate)], 99, 1));
        }

        public async ValueTask<bool> Checkpoint(string grainKey, long epoch, long sequence)
        {
            if (Hold is { } hold)
            {
                await hold.Task;
            }

            if (AlwaysFail)
            {
                throw new InvalidOperationException("storage is down");
            }

            lock (Checkpoints)
            {
                Checkpoints.Add($"{grainKey}@{epoch}:{sequence}");
                return !LostOnce.Remove(grainKey);
            }
        }
    }
}
