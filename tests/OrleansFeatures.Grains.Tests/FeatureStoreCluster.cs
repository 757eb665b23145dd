using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>An in-process Orleans test cluster whose silos keep grain state in one SQLite file the test owns.</summary>
internal static class FeatureStoreCluster
{
    /// <param name="databasePath">The SQLite file; null keeps state in Orleans' memory storage instead.</param>
    /// <param name="configure">Further silo configuration, applied after the storage (tests that wrap it).</param>
    public static async Task<InProcessTestCluster> StartAsync(string? databasePath, short silos = 1, Action<ISiloBuilder>? configure = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((_, silo) =>
        {
            if (databasePath is null)
            {
                silo.AddFeatureStoreMemoryStorage(FeatureStoreStorage.Name);
            }
            else
            {
                silo.AddSqliteGrainStorage(FeatureStoreStorage.Name, o => o.DatabasePath = databasePath);
            }

            silo.AddFeatureStoreServices(new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["RefreshInterval"] = "00:00:00.500" })
                .Build());
            configure?.Invoke(silo);
        });
        builder.ConfigureClient(client => client.AddActivityPropagation());
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    public static string NewDatabasePath(TempDirectory directory) => Path.Combine(directory.Path, "store.db");

    /// <summary>Memory storage behind a <see cref="ControlledStorage"/>, so a test can make chosen writes fail or wait.</summary>
    public static Task<InProcessTestCluster> StartWithControlledStorageAsync() =>
        StartAsync(databasePath: null, configure: silo =>
        {
            silo.AddFeatureStoreMemoryStorage("inner");
            silo.Services.AddSingleton(sp => new ControlledStorage(sp.GetRequiredKeyedService<IGrainStorage>("inner")));
            silo.Services.AddKeyedSingleton<IGrainStorage>(FeatureStoreStorage.Name, (sp, _) => sp.GetRequiredService<ControlledStorage>());
        });

    public static ControlledStorage ControlledStorage(InProcessTestCluster cluster) =>
        cluster.Silos[0].ServiceProvider.GetRequiredService<ControlledStorage>();
}

/// <summary>
/// Storage that, while told to, stores segment states and then reports the write as failed (an acknowledgement
/// lost), fails main entity writes without storing them, holds main entity writes until released, or fails segment
/// deletes.
/// </summary>
internal sealed class ControlledStorage(IGrainStorage inner) : IGrainStorage
{
    public volatile bool FailSegmentWrites;
    public volatile bool FailMainWrites;
    public volatile bool FailSegmentDeletes;

    /// <summary>While set, main entity writes wait for it before they are stored.</summary>
    public volatile TaskCompletionSource? HoldMainWrites;

    /// <summary>Completes when a main entity write starts waiting on <see cref="HoldMainWrites"/>.</summary>
    public TaskCompletionSource MainWriteHeld { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    // The entity grain's main state is "entity"; its de-duplication segments are EntityStateStore.SegmentStateName(...).
    private static bool IsMain(string stateName) => stateName == "entity";

    private static bool IsSegment(string stateName) => stateName.StartsWith("entity.seen.", StringComparison.Ordinal);

    private int _mainWritesInFlight;
    private int _mostMainWritesInFlight;

    /// <summary>Main entity writes started and not finished (one entity per test: two at once means two writers of one state).</summary>
    public int MainWritesInFlight => Volatile.Read(ref _mainWritesInFlight);

    /// <summary>The most main entity writes that were in flight at once.</summary>
    public int MostMainWritesInFlight => Volatile.Read(ref _mostMainWritesInFlight);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (FailMainWrites && IsMain(stateName))
        {
            throw new IOException("simulated: main entity write lost");
        }

        if (IsMain(stateName))
        {
            var inFlight = Interlocked.Increment(ref _mainWritesInFlight);
            InterlockedMax(ref _mostMainWritesInFlight, inFlight);
        }

        try
        {
            if (HoldMainWrites is { } hold && IsMain(stateName))
            {
                MainWriteHeld.TrySetResult();
                await hold.Task;
            }

            await inner.WriteStateAsync(stateName, grainId, grainState);
        }
        finally
        {
            if (IsMain(stateName))
            {
                Interlocked.Decrement(ref _mainWritesInFlight);
            }
        }

        if (FailSegmentWrites && IsSegment(stateName))
        {
            throw new IOException($"simulated: {stateName} stored, but its write reported failure");
        }
    }

    private static void InterlockedMax(ref int location, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref location)) && Interlocked.CompareExchange(ref location, value, seen) != seen)
        {
        }
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        FailSegmentDeletes && IsSegment(stateName)
            ? throw new IOException($"simulated: delete of {stateName} failed")
            : inner.ClearStateAsync(stateName, grainId, grainState);
}
