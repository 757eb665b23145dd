using Grpc.Core;
using OrleansFeatures.V1;
using Xunit.Abstractions;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// Pushes while workers join an AzureStorage-mode cluster of real silo processes: every answer is definite and true,
/// held against what the entities hold afterwards.
/// </summary>
public sealed class ClusterJoinEndToEndTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Pushes_while_two_workers_join_are_all_acknowledged_and_match_what_the_entities_hold()
    {
        await using var cluster = await AzureCluster.StartAsync();
        var gateway = cluster.Gateway();
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        var time = DateTimeOffset.UtcNow.AddMinutes(-5);
        var answers = new List<(Event Event, EventStatus Status, string Reason)>();
        using var stop = new CancellationTokenSource();

        // New users in every push, so every push activates entities, on the joining workers too once placement sees them.
        var pusher = Task.Run(async () =>
        {
            for (var round = 0; !stop.IsCancellationRequested; round++)
            {
                var events = Enumerable.Range(0, 40).Select(u => Events.Play($"j{round}-{u}", $"j{round}-{u % 20}", time.AddMilliseconds(u), "golf", "view", 1)).ToArray();
                try
                {
                    var response = await client.Ingestion.PushEventsAsync(Events.Push(events), deadline: DateTime.UtcNow.AddSeconds(20));
                    lock (answers)
                    {
                        answers.AddRange(response.Results.Select(r => (events[r.Index], r.Status, r.Reason)));
                    }
                }
                catch (RpcException failure)
                {
                    lock (answers)
                    {
                        answers.AddRange(events.Select(e => (e, EventStatus.Unspecified, $"call failed: {failure.StatusCode}")));
                    }
                }
            }
        });

        await Task.Delay(1_000);
        var workers = new[] { cluster.Worker(), cluster.Worker() };
        await Task.WhenAll(workers.Select(w => w.StartAsync()));
        // Pushes right after the join, when new activations start landing on the workers.
        await Task.Delay(5_000);
        await stop.CancelAsync();
        await pusher;

        output.WriteLine($"{answers.Count} events pushed: " + string.Join(", ", answers.GroupBy(a => a.Status).Select(g => $"{g.Key} {g.Count()}")));
        foreach (var reason in answers.Where(a => a.Status != EventStatus.Accepted).GroupBy(a => $"{a.Status}: {a.Reason}").Take(5))
        {
            output.WriteLine($"  {reason.Count()} x {reason.Key}");
        }

        foreach (var line in new[] { gateway, workers[0], workers[1] }.SelectMany(s => s.Output.Split('\n')).Where(l => l.Contains("fail", StringComparison.OrdinalIgnoreCase)).Take(20))
        {
            output.WriteLine($"  log: {line}");
        }

        // Every event once more with its id: what it answered first decides what it must answer now.
        var retried = new Dictionary<string, EventStatus>();
        foreach (var batch in answers.Chunk(200))
        {
            var response = await client.Ingestion.PushEventsAsync(Events.Push([.. batch.Select(a => a.Event)]), deadline: DateTime.UtcNow.AddSeconds(20));
            foreach (var result in response.Results)
            {
                retried[batch[result.Index].Event.EventId] = result.Status;
            }
        }

        foreach (var (e, status, _) in answers)
        {
            var expected = status switch
            {
                // DUPLICATE first: an interrupted call had applied it and the store's own same-id retry said so.
                EventStatus.Accepted or EventStatus.Duplicate => [EventStatus.Duplicate],
                EventStatus.Failed => [EventStatus.Accepted],
                _ => new[] { EventStatus.Accepted, EventStatus.Duplicate },
            };
            Assert.True(expected.Contains(retried[e.EventId]), $"{e.EventId} answered {status}, then {retried[e.EventId]} when sent again");
        }

        var users = answers.GroupBy(a => a.Event.Fields["user_id"].StringValue).ToDictionary(g => g.Key, g => (long)g.Count());
        // In requests of at most 1,000 ids (FeatureStore:Limits:MaxEntitiesPerRequest): how many users the pushes reach
        // depends on how long the joins take.
        foreach (var chunk in users.Keys.Chunk(1_000))
        {
            var request = new GetOnlineFeaturesRequest { EntityType = "user" };
            request.EntityIds.Add(chunk);
            (request.Features ??= new()).References.Add("user_plays:plays_1h");
            var counts = await client.Serving.GetOnlineFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(20));
            Assert.All(Enumerable.Range(0, chunk.Length), i => Assert.Equal(users[chunk[i]], counts.Entities[i].Values[0].Value.Int64Value));
        }

        Assert.All(answers, a => Assert.Contains(a.Status, new[] { EventStatus.Accepted, EventStatus.Duplicate }));
    }
}
