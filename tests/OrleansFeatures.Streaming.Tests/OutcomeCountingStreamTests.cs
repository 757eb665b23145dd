using Microsoft.Extensions.DependencyInjection;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.TestInfrastructure;
using static OrleansFeatures.Streaming.Tests.KafkaFixture;

namespace OrleansFeatures.Streaming.Tests;

[CollectionDefinition(nameof(OutcomeCountingStreamTests), DisableParallelization = true)]
public sealed class OutcomeCountingStreamCollection;

/// <summary>
/// The events counters of the stream paths: an event counts once, where its outcome is decided. In
/// <c>Ingestion:Mode=Kafka</c> a push's event the broker took is counted when the stream path applies it, not also
/// at the produce; refusals are counted by the push that answered them.
/// </summary>
[Collection(nameof(OutcomeCountingStreamTests))]
public sealed class OutcomeCountingStreamTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_push_in_kafka_mode_counts_each_event_once_accepted_where_it_is_applied()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        await using var cluster = await KafkaFixture.StartAsync(kafka, Path.Combine(temp.Path, "store.db"), ingestion: o => o.Mode = "Kafka");
        var version = await ApplyDefinitionsAsync(cluster.Client);
        var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
        using var counters = new EventCounters();

        var results = await router.RouteAsync(Topic,
        [
            Play("e1", "u1", 2), Play("e2", "u1", 3), Play("e3", "u2", 4),
            new RawEvent("bad", Base, new Dictionary<string, ScalarValue> { ["user_id"] = ScalarValue.FromString("u1"), ["seconds"] = ScalarValue.FromString("many") }),
        ], CancellationToken.None);

        Assert.Equal([RoutedEventStatus.Accepted, RoutedEventStatus.Accepted, RoutedEventStatus.Accepted, RoutedEventStatus.Rejected], results.Select(r => r.Status));
        await AssertFeaturesAsync(cluster.Client, version, new() { ["u1"] = (2, 5), ["u2"] = (1, 4) }, Timeout);
        await Poll.UntilAsync(() => Task.FromResult(counters.Count("accepted", "stream")), n => n >= 3, Timeout, "the stream path to count the 3 events");
        Assert.True(
            (3L, 0L, 1L, 0L) == (counters.Count("accepted"), counters.Count("accepted", "push"), counters.Count("rejected", "push"), counters.Count("rejected", "stream")),
            counters.ToString());
    }

    [Fact]
    public async Task A_kafka_message_is_counted_once_on_the_stream_path()
    {
        using var kafka = new MockKafkaCluster();
        using var temp = new TempDirectory();
        await kafka.ProduceJsonAsync(Topic, "u1", Json("k1", "u1", Base, 1));
        await kafka.ProduceJsonAsync(Topic, "u1", Json("k1", "u1", Base, 1));
        await using var cluster = await KafkaFixture.StartAsync(kafka, Path.Combine(temp.Path, "store.db"));
        using var counters = new EventCounters();
        var version = await ApplyDefinitionsAsync(cluster.Client);

        await AssertFeaturesAsync(cluster.Client, version, new() { ["u1"] = (1, 1) }, Timeout);
        await Poll.UntilAsync(() => Task.FromResult(counters.Count("accepted") + counters.Count("duplicate")), n => n >= 2, Timeout, "both messages to be counted");
        Assert.True((1L, 1L, 0L) == (counters.Count("accepted", "stream"), counters.Count("duplicate", "stream"), counters.Count("accepted", "push")), counters.ToString());
    }

    private static RawEvent Play(string id, string user, double seconds) => new(id, Base, new Dictionary<string, ScalarValue>
    {
        ["user_id"] = ScalarValue.FromString(user),
        ["seconds"] = ScalarValue.FromDouble(seconds),
    });
}
