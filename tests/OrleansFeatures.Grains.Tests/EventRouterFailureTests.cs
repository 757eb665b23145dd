using System.Text;
using Microsoft.Extensions.DependencyInjection;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Ingestion;
using Xunit;

namespace OrleansFeatures.Grains.Tests;

/// <summary>What a push caller sees when storage fails: short, fixed reasons, however large the batch.</summary>
public sealed class EventRouterFailureTests
{
    // A default gRPC client refuses responses over 4 MB.
    private const int DefaultClientLimitBytes = 4 * 1024 * 1024;

    [Fact]
    public async Task Storage_failures_answer_each_of_10000_events_with_a_short_fixed_reason_well_under_a_default_client_limit()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        await TestDefinitions.ApplyAsync(cluster.Client);
        FeatureStoreCluster.ControlledStorage(cluster).FailMainWrites = true;
        var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var events = new RawEvent[10_000];
        for (var i = 0; i < events.Length; i++)
        {
            events[i] = new RawEvent($"e{i}", now - i, new Dictionary<string, ScalarValue>
            {
                ["user_id"] = ScalarValue.FromString($"user-{i % 100}"),
                ["kind"] = ScalarValue.FromString("click"),
                ["amount"] = ScalarValue.FromDouble(1),
            });
        }

        var results = await router.RouteAsync(TestDefinitions.Source, events, CancellationToken.None);

        Assert.All(results, r => Assert.Equal(new RoutedEventResult(RoutedEventStatus.UnknownOutcome, EventRouter.GrainFailureReason), r));
        // Each result on the wire: index, status and reason, with a few bytes of protobuf framing.
        var responseBytes = results.Sum(r => Encoding.UTF8.GetByteCount(r.Reason!) + 16);
        Assert.True(responseBytes < DefaultClientLimitBytes / 4, $"a failing 10,000-event push answers {responseBytes} bytes");
    }

    [Fact]
    public void A_log_throttle_lets_one_entry_through_per_interval_and_counts_the_rest()
    {
        var clock = new ManualClock();
        var throttle = new LogThrottle(TimeSpan.FromSeconds(10), clock);

        Assert.True(throttle.TryEnter(out var first));
        Assert.Equal(0, first);
        for (var i = 0; i < 999; i++)
        {
            Assert.False(throttle.TryEnter(out _));
        }

        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.True(throttle.TryEnter(out var held));
        Assert.Equal(999, held);
    }

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
