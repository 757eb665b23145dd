using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Orleans.Serialization;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Grains.State;
using OrleansFeatures.Grains.Storage;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>The entity state commit protocol on real SQLite storage, without a cluster.</summary>
public sealed class EntityStateStoreTests : IAsyncLifetime
{
    private const long Now = 1_800_000_000_000;
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
        var live = new LiveView(new FeatureViewState(_view), nextSegment: 0) { Dirty = true };
        for (var i = 0; i < EntityStateStore.SealThreshold + 88; i++)
        {
            live.State.Apply(TestDefinitions.Click($"e{i}", Now - 100_000 + i, "click", 1));
        }

        var store = await OpenStoreAsync();
        await store.WriteAsync(new Dictionary<string, LiveView> { [View] = live }, epoch: 7, sequence: 3);

        Assert.False(live.Dirty);
        Assert.Equal([0], store.State.SeenSegments[View].Segments.Select(s => s.Number));
        Assert.Equal((7, 3), (store.State.WrittenByEpoch, store.State.WrittenThroughSequence));

        var reopened = await OpenStoreAsync();
        var restored = await reopened.RestoreAsync(View, _view, reopened.State.Views[View], reopened.State.SeenSegments[View]);
        Assert.Equal(EntityStateStore.SealThreshold + 88, restored.State.SeenEventCount);
        Assert.Equal(ApplyOutcome.Duplicate, restored.State.Apply(TestDefinitions.Click("e3", Now - 100_000 + 3, "click", 1)));
        Assert.Equal(1, restored.NextSegment);
    }

    [Fact]
    public async Task A_referenced_segment_that_is_missing_refuses_to_restore()
    {
        var live = new LiveView(new FeatureViewState(_view), nextSegment: 0) { Dirty = true };
        for (var i = 0; i < EntityStateStore.SealThreshold; i++)
        {
            live.State.Apply(TestDefinitions.Click($"e{i}", Now - 100_000 + i, "click", 1));
        }

        var store = await OpenStoreAsync();
        await store.WriteAsync(new Dictionary<string, LiveView> { [View] = live }, epoch: 1, sequence: 1);
        var segment = new GrainState<SeenSegmentState>(new SeenSegmentState());
        await _storage.ReadStateAsync(EntityStateStore.SegmentStateName(View, 0), _id, segment);
        await _storage.ClearStateAsync(EntityStateStore.SegmentStateName(View, 0), _id, segment);

        var reopened = await OpenStoreAsync();
        await Assert.ThrowsAsync<InvalidDataException>(() => reopened.RestoreAsync(View, _view, reopened.State.Views[View], reopened.State.SeenSegments[View]));
    }

    private async Task<EntityStateStore> OpenStoreAsync()
    {
        var store = new EntityStateStore(_storage, _id, "user/u1", NullLogger.Instance);
        await store.ReadAsync();
        return store;
    }

    private static CompiledFeatureView Compile()
    {
        var loaded = DefinitionLoader.Load([new DefinitionDocument("test.yaml", TestDefinitions.Yaml)]);
        return new CompiledFeatureView(loaded.Set!.FeatureViews[View]);
    }
}
