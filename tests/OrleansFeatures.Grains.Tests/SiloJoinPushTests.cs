using Microsoft.Extensions.DependencyInjection;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.TestInfrastructure;
using Xunit.Abstractions;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// Pushes while silos join the cluster: new entities are activated on the joining silos and by them, and every answer
/// is definite and true (ACCEPTED applied once, FAILED not applied), matching what the entities hold at the end.
/// </summary>
public sealed class SiloJoinPushTests(ITestOutputHelper output)
{
    private static readonly FeatureRefList Clicks = new(["activity"], ["clicks_1h"]);

    [Fact]
    public async Task Pushes_while_two_silos_join_answer_definitely_and_every_answer_matches_what_the_entities_hold()
    {
        using var temp = new TempDirectory();
        await using var cluster = await FeatureStoreCluster.StartAsync(FeatureStoreCluster.NewDatabasePath(temp), silos: 1);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
        // Pushes go through every silo in turn, the joining ones as soon as they have started.
        var routers = new List<EventRouter> { router };
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var events = new List<RawEvent>();
        var answers = new List<RoutedEventStatus>();
        var reasons = new Dictionary<string, int>();
        using var stop = new CancellationTokenSource();

        // New users in every push, so every push activates entities: placement spreads them over the joined silos too.
        var pusher = Task.Run(async () =>
        {
            for (var round = 0; !stop.IsCancellationRequested; round++)
            {
                var batch = Enumerable.Range(0, 50).Select(u => Click($"e{round}-{u}", $"user-{round}-{u % 25}", now - 1_000 + u)).ToArray();
                EventRouter through;
                lock (routers)
                {
                    through = routers[round % routers.Count];
                }

                var results = await through.RouteAsync(TestDefinitions.Source, batch, CancellationToken.None);
                lock (events)
                {
                    events.AddRange(batch);
                    answers.AddRange(results.Select(r => r.Status));
                    foreach (var r in results.Where(r => r.Status != RoutedEventStatus.Accepted))
                    {
                        reasons[$"{r.Status}: {r.Reason}"] = reasons.GetValueOrDefault($"{r.Status}: {r.Reason}") + 1;
                    }
                }
            }
        });

        await Task.Delay(500);
        await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            var silo = await cluster.StartAdditionalSiloAsync();
            lock (routers)
            {
                routers.Add(silo.ServiceProvider.GetRequiredService<EventRouter>());
            }
        }));
        await Task.Delay(3_000);
        await stop.CancelAsync();
        await pusher;

        output.WriteLine($"{events.Count} events pushed: " + string.Join(", ", answers.GroupBy(a => a).Select(g => $"{g.Key} {g.Count()}")));
        output.WriteLine("entities active per silo: " + string.Join(", ", cluster.Silos.Select(s => s.ServiceProvider.GetRequiredService<OrleansFeatures.Grains.Serving.LocalEntityIndex>().Count)));
        foreach (var (reason, count) in reasons)
        {
            output.WriteLine($"  {count} x {reason}");
        }

        // Every event again with its id: ACCEPTED the first time means DUPLICATE now, FAILED means not applied (ACCEPTED now).
        var retried = await router.RouteAsync(TestDefinitions.Source, [.. events], CancellationToken.None);
        for (var i = 0; i < events.Count; i++)
        {
            var expected = answers[i] switch
            {
                // DUPLICATE first: an interrupted call had applied it and the store's own same-id retry said so.
                RoutedEventStatus.Accepted or RoutedEventStatus.Duplicate => [RoutedEventStatus.Duplicate],
                RoutedEventStatus.Failed => [RoutedEventStatus.Accepted],
                RoutedEventStatus.UnknownOutcome => new[] { RoutedEventStatus.Accepted, RoutedEventStatus.Duplicate },
                var other => throw new Xunit.Sdk.XunitException($"event {i} answered {other}"),
            };
            Assert.Contains(retried[i].Status, expected);
        }

        var perUser = events.GroupBy(e => e.Fields["user_id"].AsString).ToDictionary(g => g.Key, g => g.Count());
        foreach (var (user, count) in perUser)
        {
            var held = await cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", user)).Read(version, Clicks, now);
            Assert.Equal(ScalarValue.FromInt64(count), held[0].Value);
        }

        Assert.DoesNotContain(RoutedEventStatus.UnknownOutcome, answers);
    }

    private static RawEvent Click(string id, string user, long ts) => new(id, ts, new Dictionary<string, ScalarValue>
    {
        ["user_id"] = ScalarValue.FromString(user),
        ["kind"] = ScalarValue.FromString("click"),
        ["amount"] = ScalarValue.FromDouble(1),
    });
}
