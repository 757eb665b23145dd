using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.TestInfrastructure;
using static OrleansFeatures.Streaming.Tests.KafkaFixture;

namespace OrleansFeatures.Streaming.Tests;

/// <summary>
/// One table of events run through every entrance (push, Kafka, native Event Hubs): the same events must give the
/// same features and be refused alike. Streams send without a transport key, the one place entrances differ on
/// purpose (core/Routing/README.md).
/// </summary>
[Trait("Speed", "Slow")] // the fast loop leaves it out (tests/README.md): it starts real servers or processes
public sealed class EntranceTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>An event (a JSON value, and an id and time carried beside it) and whether entrances apply it.</summary>
    public sealed record EntranceCase(string Name, string Json, string? MetadataId, long? MetadataTime, string? User, double Seconds, bool Refused = false);

    public static readonly EntranceCase[] Table =
    [
        new("plain", Json("p1", "u1", Base + 1, 2), null, null, "u1", 2),
        new("the same event again counts once", Json("p1", "u1", Base + 1, 2), null, null, null, 0),
        new("older, inside the lateness bound", Json("p2", "u1", Base - 86_400_000, 3), null, null, "u1", 3),
        new("an integer where the source declares a string", """{"event_id":"r0","ts":1800000000004,"user_id":42,"seconds":1.5}""", null, null, null, 0, Refused: true),
        new("undeclared fields are ignored", """{"event_id":"p4","ts":1800000000005,"user_id":"u2","seconds":4,"extra":"x","flag":true,"n":7}""", null, null, "u2", 4),
        new("id and time beside the value", """{"user_id":"u2","seconds":5}""", "p5", Base + 6, "u2", 5),
        new("a declared field of the wrong type", """{"event_id":"r1","ts":1800000000007,"user_id":"u1","seconds":"many"}""", null, null, null, 0, Refused: true),
        new("an event time past the allowed skew", """{"event_id":"r2","ts":4102444800000,"user_id":"u1","seconds":1}""", null, null, null, 0, Refused: true),
        new("no event id", """{"ts":1800000000008,"user_id":"u1","seconds":1}""", null, null, null, 0, Refused: true),
        new("no entity key", """{"event_id":"r4","ts":1800000000009,"seconds":1}""", null, null, null, 0, Refused: true),
        new("a non-finite number", """{"event_id":"r5","ts":1800000000010,"user_id":"u1","seconds":1e999}""", null, null, null, 0, Refused: true),
    ];

    [Theory]
    [InlineData("push")]
    [InlineData("kafka")]
    [InlineData("eventhubs")]
    public async Task The_same_events_give_the_same_features_and_refusals_through_every_entrance(string entrance)
    {
        using var temp = new TempDirectory();
        var database = Path.Combine(temp.Path, "store.db");
        var expected = new Dictionary<string, (long Count, double Seconds)>();
        foreach (var row in Table.Where(r => r.User is not null))
        {
            var (n, s) = expected.GetValueOrDefault(row.User!);
            expected[row.User!] = (n + 1, s + row.Seconds);
        }

        var refused = Table.Count(r => r.Refused);
        switch (entrance)
        {
            case "push":
            {
                await using var cluster = await StartPushOnlyAsync(database);
                var version = await ApplyDefinitionsAsync(cluster.Client);
                var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
                var results = await router.RouteAsync(Topic, Table.Select(ToRawEvent).ToList(), CancellationToken.None);
                Assert.Equal(Table.Select(r => r.Refused), results.Select(r => r.Status == RoutedEventStatus.Rejected));
                await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
                break;
            }

            case "kafka":
            {
                using var kafka = new MockKafkaCluster();
                foreach (var row in Table)
                {
                    var message = new Message<byte[]?, byte[]?> { Key = null, Value = Encoding.UTF8.GetBytes(row.Json), Headers = [] };
                    if (row.MetadataId is { } id)
                    {
                        message.Headers.Add(FeatureEventKafkaMapper.EventIdHeader, Encoding.UTF8.GetBytes(id));
                    }

                    if (row.MetadataTime is { } time)
                    {
                        message.Headers.Add(FeatureEventKafkaMapper.EventTimeHeader, Encoding.UTF8.GetBytes(time.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                    }

                    await kafka.Producer.ProduceAsync(Topic, message);
                }

                await using var cluster = await KafkaFixture.StartAsync(kafka, database);
                var version = await ApplyDefinitionsAsync(cluster.Client);
                await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
                Assert.Equal(refused, kafka.ReadAll(DeadLetters, expected: refused, Timeout).Count);
                break;
            }

            case "eventhubs":
            {
                var hub = new InMemoryEventHub();
                await using var azurite = await AzuriteServer.StartAsync();
                var options = EventHubFixture.Options(azurite, "entrance");
                foreach (var row in Table)
                {
                    var properties = new List<(string, object)>();
                    if (row.MetadataId is { } id)
                    {
                        properties.Add((StreamEventMapper.EventIdField, id));
                    }

                    if (row.MetadataTime is { } time)
                    {
                        properties.Add((StreamEventMapper.EventTimeField, time));
                    }

                    hub.Send(EventHubFixture.Hub, partitionKey: null, row.Json, [.. properties]);
                }

                await using var cluster = await EventHubFixture.StartAsync(hub, options, database);
                var version = await ApplyDefinitionsAsync(cluster.Client);
                await AssertFeaturesAsync(cluster.Client, version, expected, Timeout);
                var dead = await Poll.UntilAsync(() => EventHubFixture.DeadLettersAsync(options), d => d.Count >= refused, Timeout, $"{refused} dead letters");
                Assert.Equal(refused, dead.Count);
                break;
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(entrance), entrance, null);
        }
    }

    private static RawEvent ToRawEvent(EntranceCase row) =>
        JsonEventReader.TryRead(Encoding.UTF8.GetBytes(row.Json), row.MetadataId, row.MetadataTime, out var error)
            ?? throw new InvalidOperationException($"case '{row.Name}' is not a flat JSON event: {error}");

    private static async Task<InProcessTestCluster> StartPushOnlyAsync(string database)
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            AddStoreServices(silo, database, flakyStorage: false);
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }
}
