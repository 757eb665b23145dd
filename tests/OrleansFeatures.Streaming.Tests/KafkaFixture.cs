using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Storage;
using Orleans.TestingHost;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Streaming.Kafka;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Streaming.Tests;

/// <summary>Definitions, a test cluster wired to a mock Kafka cluster, and a brute-force expectation.</summary>
internal static class KafkaFixture
{
    public const string Topic = "plays";
    public const string DeadLetters = "plays-dead";
    public const long Base = 1_800_000_000_000;

    public const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, seconds: double }
        feature_views:
          - name: plays
            source: plays
            allowed_lateness: 30d
            features:
              - { name: n, aggregation: count, window: 30d }
              - { name: seconds, aggregation: sum, field: seconds, window: 30d }
        """;

    public static readonly FeatureRefList Features = new(["plays", "plays"], ["n", "seconds"]);

    public static async Task<InProcessTestCluster> StartAsync(MockKafkaCluster kafka, string database, short silos = 1, Action<KafkaStreamOptions>? configure = null, bool flakyStorage = false, CapturedLog? log = null, Action<IngestionOptions>? ingestion = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((options, silo) =>
        {
            if (log is not null)
            {
                silo.Services.AddLogging(logging => logging.AddProvider(log.ProviderFor(options.SiloName)).SetMinimumLevel(LogLevel.Debug));
            }

            AddStoreServices(silo, database, flakyStorage);
            if (ingestion is not null)
            {
                silo.Services.Configure(ingestion);
            }

            // Test events are dated from Base (2027) on; ten years of skew admits them and still refuses 2100.
            silo.Services.Configure<EventLimits>(o => o.MaxFutureSkew = TimeSpan.FromDays(3650));
            silo.AddFeatureStoreKafka(o =>
            {
                o.BootstrapServers = kafka.BootstrapServers;
                o.Topics = [Topic];
                o.ConsumerGroup = "feature-store-tests";
                o.DeadLetterTopic = DeadLetters;
                configure?.Invoke(o);
            });
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>SQLite grain storage (optionally behind <see cref="FlakyStorage"/>) and the store's services, as every stream test silo has them.</summary>
    public static void AddStoreServices(ISiloBuilder silo, string database, bool flakyStorage)
    {
        if (flakyStorage)
        {
            silo.AddSqliteGrainStorage("inner", o => o.DatabasePath = database);
            silo.Services.AddSingleton(sp => new FlakyStorage(sp.GetRequiredKeyedService<IGrainStorage>("inner")));
            silo.Services.AddKeyedSingleton<IGrainStorage>(FeatureStoreStorage.Name, (sp, _) => sp.GetRequiredService<FlakyStorage>());
        }
        else
        {
            silo.AddSqliteGrainStorage(FeatureStoreStorage.Name, o => o.DatabasePath = database);
        }

        silo.AddFeatureStoreServices();
        // Test events are dated from Base (2027) on; ten years of skew admits them and still refuses 2100.
        silo.Services.Configure<EventLimits>(o => o.MaxFutureSkew = TimeSpan.FromDays(3650));
    }

    public static async Task<long> ApplyDefinitionsAsync(IGrainFactory grains)
    {
        var result = await grains.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).Apply([new DefinitionDocumentDto("plays.yaml", Yaml)], dryRun: false);
        return result.Applied || result.Changes.Count == 0 ? await grains.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).GetVersion()
            : throw new InvalidOperationException(string.Join("; ", result.Errors.Select(e => e.Text).Concat(result.Rejections)));
    }

    public static string Json(string id, string user, long ts, double seconds) =>
        string.Create(CultureInfo.InvariantCulture, $$"""{"event_id":"{{id}}","ts":{{ts}},"user_id":"{{user}}","seconds":{{seconds}}}""");

    /// <summary>Produces <paramref name="count"/> events over <paramref name="users"/> users; returns what each user should read.</summary>
    public static async Task<Dictionary<string, (long Count, double Seconds)>> ProduceAsync(MockKafkaCluster kafka, int from, int count, int users, Dictionary<string, (long Count, double Seconds)>? expected = null)
    {
        expected ??= [];
        var sends = new List<Task>(count);
        for (var i = from; i < from + count; i++)
        {
            var user = $"u{i % users}";
            var seconds = i % 7;
            sends.Add(kafka.ProduceJsonAsync(Topic, user, Json($"e{i}", user, Base + i, seconds)));
            var (n, s) = expected.GetValueOrDefault(user);
            expected[user] = (n + 1, s + seconds);
        }

        await Task.WhenAll(sends);
        return expected;
    }

    /// <summary>Polls every user's grain until its count matches, then checks count and sum exactly.</summary>
    public static async Task AssertFeaturesAsync(IGrainFactory grains, long version, Dictionary<string, (long Count, double Seconds)> expected, TimeSpan timeout)
    {
        foreach (var (user, (count, seconds)) in expected)
        {
            var grain = grains.GetGrain<IEntityGrain>(EntityKey.Format("user", user));
            var values = await Poll.UntilAsync(
                () => grain.Read(version, Features, Base + 1_000_000_000),
                v => v[0].Status == FeatureStatusKind.Present && v[0].Value.AsInt64 >= count,
                timeout,
                $"{user} to count {count} events");
            Assert.Equal(ScalarValue.FromInt64(count), values[0].Value);
            Assert.Equal(ScalarValue.FromDouble(seconds), values[1].Value);
        }
    }
}

/// <summary>Grain storage that fails entity state writes while told to (a full disk), and passes everything else through.</summary>
internal sealed class FlakyStorage(IGrainStorage inner) : IGrainStorage
{
    /// <summary>Entity writes still to fail; negative fails every one until set to 0.</summary>
    public int EntityWritesToFail;

    public int EntityWritesFailed;

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (stateName == "entity" && Volatile.Read(ref EntityWritesToFail) != 0)
        {
            if (Interlocked.Decrement(ref EntityWritesToFail) < 0)
            {
                Interlocked.Exchange(ref EntityWritesToFail, -1);
            }

            Interlocked.Increment(ref EntityWritesFailed);
            throw new IOException("simulated: disk full");
        }

        return inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);
}
