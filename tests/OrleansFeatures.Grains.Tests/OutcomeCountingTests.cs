using Microsoft.Extensions.DependencyInjection;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.TestInfrastructure;
using Xunit;

namespace OrleansFeatures.Grains.Tests;

[CollectionDefinition(nameof(OutcomeCountingTests), DisableParallelization = true)]
public sealed class OutcomeCountingCollection;

/// <summary>
/// Every event is counted once, under its own outcome and its entrance's path, through the one tally
/// (<see cref="OutcomeTally"/>): FAILED and UNKNOWN_OUTCOME are not refusals. The Kafka paths are pinned in the
/// streaming tests (<c>OutcomeCountingStreamTests</c>).
/// </summary>
[Collection(nameof(OutcomeCountingTests))]
public sealed class OutcomeCountingTests
{
    private static readonly long Now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public void Each_outcome_has_its_own_counter_tagged_with_the_path()
    {
        using var counters = new EventCounters();
        var tally = new OutcomeTally();
        foreach (var status in Enum.GetValues<RoutedEventStatus>())
        {
            tally.Add(status);
        }

        tally.Add(RoutedEventStatus.Accepted);
        tally.Record(OutcomeTally.StreamPath);

        Assert.Equal(
            [("accepted", 2L), ("duplicate", 1L), ("late", 1L), ("rejected", 1L), ("failed", 1L), ("unknown_outcome", 1L)],
            new[] { "accepted", "duplicate", "late", "rejected", "failed", "unknown_outcome" }.Select(o => (o, counters.Count(o, "stream"))));
        Assert.Equal(0, counters.Count("accepted", "push"));
    }

    [Fact]
    public async Task A_direct_push_counts_each_event_once_under_its_answer_on_the_push_path()
    {
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        await TestDefinitions.ApplyAsync(cluster.Client);
        var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
        using var counters = new EventCounters();

        var results = await router.RouteAsync(TestDefinitions.Source,
        [
            Click("a", Now), Click("b", Now), Click("a", Now),
            Click("old", Now - (3 * 3_600_000)),
            new RawEvent("bad", Now, new Dictionary<string, ScalarValue> { ["user_id"] = ScalarValue.FromString("u"), ["amount"] = ScalarValue.FromString("x") }),
            new RawEvent(null, null, new Dictionary<string, ScalarValue>(), Refused: "event_time.nanos is -1; it must be between 0 and 999999999"),
        ], CancellationToken.None);

        Assert.Equal(
            [RoutedEventStatus.Accepted, RoutedEventStatus.Accepted, RoutedEventStatus.Duplicate, RoutedEventStatus.Late, RoutedEventStatus.Rejected, RoutedEventStatus.Rejected],
            results.Select(r => r.Status));
        Assert.Equal("event_time.nanos is -1; it must be between 0 and 999999999", results[5].Reason);
        Assert.True(
            (2L, 1L, 1L, 2L) == (counters.Count("accepted", "push"), counters.Count("duplicate", "push"), counters.Count("late", "push"), counters.Count("rejected", "push")),
            counters.ToString());
        Assert.Equal(0, counters.Count("accepted", "stream") + counters.Count("unknown_outcome") + counters.Count("failed"));
    }

    [Fact]
    public async Task A_push_whose_entity_write_fails_counts_unknown_outcome_and_not_rejected()
    {
        await using var cluster = await FeatureStoreCluster.StartWithControlledStorageAsync();
        await TestDefinitions.ApplyAsync(cluster.Client);
        FeatureStoreCluster.ControlledStorage(cluster).FailMainWrites = true;
        var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
        using var counters = new EventCounters();

        var results = await router.RouteAsync(TestDefinitions.Source, [Click("a", Now), Click("b", Now)], CancellationToken.None);

        Assert.All(results, r => Assert.Equal(RoutedEventStatus.UnknownOutcome, r.Status));
        Assert.Equal(2, counters.Count("unknown_outcome", "push"));
        Assert.Equal(0, counters.Count("rejected") + counters.Count("failed") + counters.Count("accepted"));
    }

    private static RawEvent Click(string id, long ts) => new(id, ts, new Dictionary<string, ScalarValue>
    {
        ["user_id"] = ScalarValue.FromString("u"),
        ["kind"] = ScalarValue.FromString("click"),
        ["amount"] = ScalarValue.FromDouble(1),
    });
}
