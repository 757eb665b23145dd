using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.Serialization;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.Grains.State;
using OrleansFeatures.Grains.Storage;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>The entity state commit protocol on real SQLite storage, without a cluster.</summary>
public sealed class EntityStateStoreTests : IAsyncLifetime
{
    private const long Now = 1_800_000_000_000;

    // These tests pin the commit protocol, not the arrival rule: an arrival clock that never caps the watermark.
    private const long NoArrivalCap = long.MaxValue;
    private const string View = "activity";

    private readonly TempDirectory _directory = new();
    private readonly CompiledFeatureView _view = Compile();
    private readonly GrainId _id = GrainId.Create("entity", "user/u1");
    private SqliteGrainStorage _storage = null!;

    public async Task InitializeAsync()
    {
        var serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();
        _storage = new SqliteGrainStorage("test", new SqliteGrainStorageOptions
        {
            DatabasePath = Path.Combine(_directory.Path, "store.db"),
            GrainStorageSerializer = new BinaryGrainStorageSerializer(serializer),
        }, NullLogger<SqliteGrainStorage>.Instance);
        await _storage.OpenAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _storage.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task A_write_seals_open_ids_into_a_segment_first_and_a_new_store_restores_every_id()
    {
        var (entity, live) = NewEntity(epoch: 7);
        for (var i = 0; i < EntityStateStore.SealThreshold + 88; i++)
        {
            entity.Apply(TestDefinitions.Source, TestDefinitions.Click($"e{i}", Now - 100_000 + i, "click", 1), NoArrivalCap, out _);
        }

        var store = await OpenStoreAsync();
        await store.WriteAsync(entity, epoch: 7);

        Assert.False(live.Dirty);
        Assert.False(entity.HasUnwritten);
        Assert.Equal([0], store.State.SeenSegments[View].Segments.Select(s => s.Number));
        Assert.Equal((7, EntityStateStore.SealThreshold + 88), (store.State.WrittenByEpoch, store.State.WrittenThroughSequence));

        var reopened = await OpenStoreAsync();
        var restored = await reopened.RestoreAsync(View, _view, reopened.State.Views[View], reopened.State.SeenSegments[View]);
        Assert.Equal(EntityStateStore.SealThreshold + 88, restored.State.SeenEventCount);
        Assert.Equal(ApplyOutcome.Duplicate, restored.State.Apply(TestDefinitions.Click("e3", Now - 100_000 + 3, "click", 1)));
        Assert.Equal(1, restored.NextSegment);
    }

    [Fact]
    public async Task A_referenced_segment_that_is_missing_refuses_to_restore()
    {
        var (entity, _) = NewEntity();
        for (var i = 0; i < EntityStateStore.SealThreshold; i++)
        {
            entity.Apply(TestDefinitions.Source, TestDefinitions.Click($"e{i}", Now - 100_000 + i, "click", 1), NoArrivalCap, out _);
        }

        var store = await OpenStoreAsync();
        await store.WriteAsync(entity, epoch: 1);
        var segment = new GrainState<SeenSegmentState>(new SeenSegmentState());
        await _storage.ReadStateAsync(EntityStateStore.SegmentStateName(View, 0), _id, segment);
        await _storage.ClearStateAsync(EntityStateStore.SegmentStateName(View, 0), _id, segment);

        var reopened = await OpenStoreAsync();
        await Assert.ThrowsAsync<InvalidDataException>(() => reopened.RestoreAsync(View, _view, reopened.State.Views[View], reopened.State.SeenSegments[View]));
    }

    [Fact]
    public async Task Given_the_ingestion_lane_a_write_packs_and_serializes_on_its_threads_and_awaits_storage_off_them()
    {
        var (entity, live) = NewEntity();
        entity.Apply(TestDefinitions.Source, TestDefinitions.Click("e1", Now, "click", 1), NoArrivalCap, out _, out var applied);
        using var lane = new IngestionLane(workers: 1, workerNice: 0, capacity: 16);
        var recording = new ThreadRecordingStorage(_storage);
        var store = await OpenStoreAsync(recording, lane);

        await store.WriteAsync(entity, epoch: 1);

        // The main state was packed and handed to storage (which serializes before its first await) on the lane.
        Assert.Equal([EntityStateStore.MainStateName], recording.Writes.Select(w => w.StateName));
        Assert.StartsWith("ingest-lane-", recording.Writes[0].Thread);
        Assert.False(Thread.CurrentThread.Name?.StartsWith("ingest-lane-", StringComparison.Ordinal) ?? false);
        Assert.False(live.Dirty);
        Assert.True(applied <= entity.WrittenThrough);
        Assert.Equal(applied, (await OpenStoreAsync()).State.WrittenThroughSequence);
        Assert.Equal(0, lane.Failed);
    }

    [Fact]
    public async Task A_write_that_fails_on_the_lane_leaves_the_views_unwritten_and_counts_the_failure()
    {
        var (entity, live) = NewEntity();
        entity.Apply(TestDefinitions.Source, TestDefinitions.Click("e1", Now, "click", 1), NoArrivalCap, out _, out var applied);
        using var lane = new IngestionLane(workers: 1, workerNice: 0, capacity: 16);
        var store = await OpenStoreAsync(new ThreadRecordingStorage(_storage, failWrites: true), lane);

        await Assert.ThrowsAsync<IOException>(() => store.WriteAsync(entity, epoch: 1));

        Assert.Equal(1, lane.Failed);
        Assert.True(live.Dirty);
        Assert.True(applied > entity.WrittenThrough);
        Assert.True(entity.HasUnwritten);
    }

    [Fact]
    public async Task An_apply_while_the_main_state_is_being_written_stays_unwritten_and_the_next_write_holds_it()
    {
        var (entity, live) = NewEntity();
        entity.Apply(TestDefinitions.Source, TestDefinitions.Click("before", Now, "click", 1), NoArrivalCap, out _, out var before);
        var gated = new GatedGrainStorage(_storage, name => name == EntityStateStore.MainStateName);
        var store = await OpenStoreAsync(gated);

        var write = store.WriteAsync(entity, epoch: 1);
        await gated.Entered;
        entity.Apply(TestDefinitions.Source, TestDefinitions.Click("during", Now + 1, "click", 1), NoArrivalCap, out _, out var during);
        gated.Open();
        await write;

        // The receipt of the apply before the write is proven written; the one during it is not.
        Assert.True(before <= entity.WrittenThrough);
        Assert.True(during > entity.WrittenThrough);
        Assert.True(live.Dirty);
        Assert.True(entity.HasUnwritten);
        await store.WriteAsync(entity, epoch: 1);
        Assert.True(during <= entity.WrittenThrough);
        Assert.Equal(during, (await OpenStoreAsync()).State.WrittenThroughSequence);
        var reopened = await OpenStoreAsync();
        var restored = await reopened.RestoreAsync(View, _view, reopened.State.Views[View], null);
        Assert.Equal(ApplyOutcome.Duplicate, restored.State.Apply(TestDefinitions.Click("during", Now + 1, "click", 1)));
    }

    [Fact]
    public async Task Ids_applied_while_a_segment_is_being_written_are_not_sealed_with_it()
    {
        var (entity, _) = NewEntity();
        const int Old = EntityStateStore.SealThreshold + 88;
        for (var i = 0; i < Old; i++)
        {
            entity.Apply(TestDefinitions.Source, TestDefinitions.Click($"old{i}", Now - 100_000 + i, "click", 1), NoArrivalCap, out _);
        }

        var gated = new GatedGrainStorage(_storage, name => name.StartsWith("entity.seen.", StringComparison.Ordinal));
        var store = await OpenStoreAsync(gated);
        var write = store.WriteAsync(entity, epoch: 1);
        await gated.Entered;

        // Two hours later: every old id falls behind the lateness bound while its segment is still being written.
        var later = Now + (2 * 3_600_000);
        for (var i = 0; i < Old; i++)
        {
            entity.Apply(TestDefinitions.Source, TestDefinitions.Click($"new{i}", later + i, "click", 1), NoArrivalCap, out _);
        }

        gated.Open();
        await write;
        await store.WriteAsync(entity, epoch: 1);

        var reopened = await OpenStoreAsync();
        var restored = await reopened.RestoreAsync(View, _view, reopened.State.Views[View], reopened.State.SeenSegments[View]);
        for (var i = 0; i < Old; i++)
        {
            Assert.Equal(ApplyOutcome.Duplicate, restored.State.Apply(TestDefinitions.Click($"new{i}", later + i, "click", 1)));
        }
    }

    private (EntityViews Entity, LiveView View) NewEntity(long epoch = 1)
    {
        var entity = new EntityViews(epoch);
        var live = new LiveView(new FeatureViewState(_view), nextSegment: 0);
        entity.Set(View, live);
        return (entity, live);
    }

    private async Task<EntityStateStore> OpenStoreAsync(IGrainStorage? storage = null, IngestionLane? lane = null)
    {
        var store = new EntityStateStore(storage ?? _storage, _id, "user/u1", NullLogger.Instance, lane);
        await store.ReadAsync();
        return store;
    }

    private static CompiledFeatureView Compile()
    {
        var loaded = DefinitionLoader.Load([new DefinitionDocument("test.yaml", TestDefinitions.Yaml)]);
        return new CompiledFeatureView(loaded.Set!.FeatureViews[View]);
    }
}

/// <summary>
/// Storage that records which thread started each write (the synchronous part of a write, where storage serializes),
/// or fails it there, as a serializer that throws would.
/// </summary>
internal sealed class ThreadRecordingStorage(IGrainStorage inner, bool failWrites = false) : IGrainStorage
{
    public List<(string StateName, string? Thread)> Writes { get; } = [];

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        lock (Writes)
        {
            Writes.Add((stateName, Thread.CurrentThread.Name));
        }

        if (failWrites)
        {
            throw new IOException("serializing failed");
        }

        return inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);
}
