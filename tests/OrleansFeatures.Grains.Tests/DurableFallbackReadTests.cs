using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// A read whose entity grain cannot answer (its silo died, is stopping, refused the call, or is silent) is answered from
/// the entity's durable state and marked stale; a read whose grain answers is never marked stale. A real SIGKILL is
/// <c>ClusterEndToEndTests</c>' (the in-process test cluster declares a killed silo dead at once, so it has no window).
/// </summary>
public sealed class DurableFallbackReadTests
{
    private const long Now = 1_800_000_000_000;

    private static readonly FeatureRefList Features = new(["activity", "activity", "activity"], ["last_kind", "clicks_1h", "amount_24h"]);

    public static TheoryData<string> RetryableFailures() =>
    [
        nameof(SiloUnavailableException),
        nameof(OrleansMessageRejectionException),
        nameof(GatewayTooBusyException),
        nameof(LimitExceededException),
        nameof(ClientNotAvailableException),
        nameof(OrleansLifecycleCanceledException),
        nameof(TimeoutException),
        nameof(OperationCanceledException),
        "OrleansException wrapping SiloUnavailableException",
        "no answer",
    ];

    [Theory]
    [MemberData(nameof(RetryableFailures))]
    public async Task A_read_falls_back_to_durable_state_on_a_cluster_failure(string failure)
    {
        var fault = new ReadFault();
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, configure: silo =>
        {
            // Every read through a grain call, so the fault meets it; a short wait for a silent grain.
            silo.Services.Configure<ServingOptions>(o =>
            {
                o.LocalReads = false;
                o.DurableFallbackAfter = TimeSpan.FromMilliseconds(300);
            });
            silo.Services.AddSingleton(fault);
            silo.AddOutgoingGrainCallFilter<ReadFaultFilter>();
        });
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        await cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"))
            .ApplyEvents(version, TestDefinitions.Source, [Click("u1", "e1", Now - 5_000, "click", 3)]);
        var reader = cluster.Silos[0].ServiceProvider.GetRequiredService<EntityFeatureReader>();
        var live = new FeatureReading[2 * Features.Count];
        Assert.Null(await reader.ReadAsync(version, "user", ["u1", "never-seen"], Features, Now, live));

        fault.Create = failure == "no answer" ? null : () => Create(failure);
        fault.Silent = failure == "no answer";
        var readings = new FeatureReading[2 * Features.Count];
        var stale = await reader.ReadAsync(version, "user", ["u1", "never-seen"], Features, Now, readings);

        Assert.Equal([true, true], stale!);
        Assert.Equal(live, readings);
        Assert.Equal(ScalarValue.FromInt64(1), readings[1].Value);
        Assert.All(readings.AsSpan(Features.Count).ToArray(), r => Assert.Equal(ReadingStatus.NotFound, r.Status));
    }

    [Fact]
    public async Task A_call_rejected_once_is_made_again_and_answered_live_not_stale()
    {
        var fault = new ReadFault();
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, configure: silo =>
        {
            silo.Services.Configure<ServingOptions>(o => o.LocalReads = false);
            silo.Services.AddSingleton(fault);
            silo.AddOutgoingGrainCallFilter<ReadFaultFilter>();
        });
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        await cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "u1"))
            .ApplyEvents(version, TestDefinitions.Source, [Click("u1", "e1", Now - 5_000, "click", 3)]);
        var reader = cluster.Silos[0].ServiceProvider.GetRequiredService<EntityFeatureReader>();
        // As a silo that stopped taking messages refuses a call (and invalidates the caller's directory cache entry).
        fault.Create = () => Internal<OrleansMessageRejectionException>("Silo stopping");
        fault.Remaining = 1;
        var readings = new FeatureReading[Features.Count];

        var stale = await reader.ReadAsync(version, "user", ["u1"], Features, Now, readings);

        Assert.Null(stale);
        Assert.Equal(ScalarValue.FromInt64(1), readings[1].Value);
        Assert.Equal(-1, fault.Remaining);
    }

    [Fact]
    public async Task A_grains_own_failure_is_not_answered_from_durable_state()
    {
        var fault = new ReadFault();
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, configure: silo =>
        {
            silo.Services.Configure<ServingOptions>(o => o.LocalReads = false);
            silo.Services.AddSingleton(fault);
            silo.AddOutgoingGrainCallFilter<ReadFaultFilter>();
        });
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var reader = cluster.Silos[0].ServiceProvider.GetRequiredService<EntityFeatureReader>();
        fault.Create = () => new InvalidDataException("entity user/u1: the stored state cannot be read");

        await Assert.ThrowsAsync<InvalidDataException>(async () => await reader.ReadAsync(version, "user", ["u1"], Features, Now, new FeatureReading[Features.Count]));
    }

    [Fact]
    public async Task With_the_fallback_off_a_cluster_failure_fails_the_read()
    {
        var fault = new ReadFault();
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null, configure: silo =>
        {
            silo.Services.Configure<ServingOptions>(o =>
            {
                o.LocalReads = false;
                o.DurableFallback = false;
            });
            silo.Services.AddSingleton(fault);
            silo.AddOutgoingGrainCallFilter<ReadFaultFilter>();
        });
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var reader = cluster.Silos[0].ServiceProvider.GetRequiredService<EntityFeatureReader>();
        fault.Create = () => new SiloUnavailableException("simulated");

        await Assert.ThrowsAsync<SiloUnavailableException>(async () => await reader.ReadAsync(version, "user", ["u1"], Features, Now, new FeatureReading[Features.Count]));
    }

    private static Exception Create(string name) => name switch
    {
        nameof(SiloUnavailableException) => new SiloUnavailableException("The target silo became unavailable for message"),
        nameof(OrleansMessageRejectionException) => Internal<OrleansMessageRejectionException>("Forwarding failed"),
        nameof(GatewayTooBusyException) => new GatewayTooBusyException(),
        nameof(LimitExceededException) => new LimitExceededException("Target activation is overloaded"),
        nameof(ClientNotAvailableException) => Internal<ClientNotAvailableException>("client gone"),
        nameof(OrleansLifecycleCanceledException) => Internal<OrleansLifecycleCanceledException>("lifecycle canceled"),
        nameof(TimeoutException) => new TimeoutException("Response did not arrive on time"),
        nameof(OperationCanceledException) => new OperationCanceledException("Shutting down"),
        "OrleansException wrapping SiloUnavailableException" => new OrleansException("grain call failed", new SiloUnavailableException()),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    // Orleans creates these inside its runtime only (their constructors are internal).
    private static T Internal<T>(string message) where T : Exception =>
        (T)Activator.CreateInstance(typeof(T), BindingFlags.Instance | BindingFlags.NonPublic, null, [message], CultureInfo.InvariantCulture)!;

    private static FeatureEvent Click(string user, string id, long ts, string kind, double amount) => new($"{user}-{id}", ts, new Dictionary<string, ScalarValue>
    {
        ["user_id"] = ScalarValue.FromString(user),
        ["kind"] = ScalarValue.FromString(kind),
        ["amount"] = ScalarValue.FromDouble(amount),
    });

    /// <summary>What the filter does to entity reads: nothing, throw, or never answer.</summary>
    private sealed class ReadFault
    {
        public volatile Func<Exception>? Create;
        public volatile bool Silent;

        /// <summary>How many more reads <see cref="Create"/> fails (decremented by each read it meets).</summary>
        public int Remaining = int.MaxValue;
    }

    private sealed class ReadFaultFilter(ReadFault fault) : IOutgoingGrainCallFilter
    {
        public async Task Invoke(IOutgoingGrainCallContext context)
        {
            if (context.InterfaceMethod?.Name == nameof(IEntityGrain.Read) && context.InterfaceMethod.DeclaringType == typeof(IEntityGrain))
            {
                if (fault.Create is { } create && Interlocked.Decrement(ref fault.Remaining) >= 0)
                {
                    throw create();
                }

                if (fault.Silent)
                {
                    await Task.Delay(TimeSpan.FromSeconds(5));
                }
            }

            await context.Invoke();
        }
    }
}
