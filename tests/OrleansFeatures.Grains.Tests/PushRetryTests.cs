using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// A push whose entity call fails calls that entity again with the same events before it answers: each event then
/// answers what its entity holds (ACCEPTED if the failed call had not applied it, DUPLICATE if it had), and only an
/// entity that keeps failing for the whole retry budget leaves its events UNKNOWN_OUTCOME.
/// </summary>
public sealed class PushRetryTests
{
    private static readonly FeatureRefList Clicks = new(["activity"], ["clicks_1h"]);

    [Fact]
    public async Task Entity_calls_that_fail_once_are_made_again_and_each_event_answers_what_its_entity_holds()
    {
        var fault = new ApplyFault();
        // The call reached the entity, which applied and wrote the events, and its answer was lost (its silo died).
        fault.Plan["user/lost"] = [Fault.AnswerLost];
        // The call never reached the entity (refused before it ran, e.g. its activation failed).
        fault.Plan["user/refused"] = [Fault.Refused, Fault.Refused];
        await using var cluster = await StartAsync(fault);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var results = await router.RouteAsync(TestDefinitions.Source, [Click("e1", "lost", now), Click("e2", "refused", now), Click("e3", "fine", now)], CancellationToken.None);

        Assert.Equal([RoutedEventStatus.Duplicate, RoutedEventStatus.Accepted, RoutedEventStatus.Accepted], results.Select(r => r.Status));
        Assert.Equal(2, fault.Calls("user/lost"));
        Assert.Equal(3, fault.Calls("user/refused"));
        foreach (var user in new[] { "lost", "refused", "fine" })
        {
            var held = await cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", user)).Read(version, Clicks, now);
            Assert.Equal(ScalarValue.FromInt64(1), held[0].Value);
        }
    }

    [Fact]
    public async Task An_entity_that_keeps_failing_leaves_only_its_events_unknown_after_the_retry_budget()
    {
        var fault = new ApplyFault();
        fault.Plan["user/down"] = [.. Enumerable.Repeat(Fault.Refused, 1_000)];
        await using var cluster = await StartAsync(fault);
        await TestDefinitions.ApplyAsync(cluster.Client);
        var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var watch = Stopwatch.StartNew();

        var results = await router.RouteAsync(TestDefinitions.Source, [Click("e1", "down", now), Click("e2", "fine", now)], CancellationToken.None);

        Assert.Equal(new RoutedEventResult(RoutedEventStatus.UnknownOutcome, EventRouter.GrainFailureReason), results[0]);
        Assert.Equal(RoutedEventStatus.Accepted, results[1].Status);
        Assert.True(fault.Calls("user/down") > 2, $"called {fault.Calls("user/down")} times");
        Assert.InRange(watch.Elapsed, EventRouter.EntityRetryBudget / 2, EventRouter.EntityRetryBudget + TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_cancelled_push_stops_calling_again_and_answers_unknown_outcome()
    {
        var fault = new ApplyFault();
        fault.Plan["user/down"] = [.. Enumerable.Repeat(Fault.Refused, 1_000)];
        await using var cluster = await StartAsync(fault);
        await TestDefinitions.ApplyAsync(cluster.Client);
        var router = cluster.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        var results = await router.RouteAsync(TestDefinitions.Source, [Click("e1", "down", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())], deadline.Token);

        Assert.Equal(RoutedEventStatus.UnknownOutcome, results[0].Status);
        Assert.True(fault.Calls("user/down") < 10, $"called {fault.Calls("user/down")} times after the push was cancelled");
    }

    private static Task<Orleans.TestingHost.InProcessTestCluster> StartAsync(ApplyFault fault) =>
        FeatureStoreCluster.StartAsync(databasePath: null, configure: silo =>
        {
            silo.Services.AddSingleton(fault);
            silo.AddOutgoingGrainCallFilter<ApplyFaultFilter>();
        });

    private static RawEvent Click(string id, string user, long ts) => new(id, ts, new Dictionary<string, ScalarValue>
    {
        ["user_id"] = ScalarValue.FromString(user),
        ["kind"] = ScalarValue.FromString("click"),
        ["amount"] = ScalarValue.FromDouble(1),
    });

    private enum Fault
    {
        Refused,
        AnswerLost,
    }

    /// <summary>What happens to each ApplyEvents call to an entity, by grain key, in turn; calls beyond the plan go through.</summary>
    private sealed class ApplyFault
    {
        private readonly ConcurrentDictionary<string, int> _calls = new();

        public Dictionary<string, Fault[]> Plan { get; } = [];

        public int Calls(string grainKey) => _calls.GetValueOrDefault(grainKey);

        public Fault? Next(string grainKey)
        {
            var n = _calls.AddOrUpdate(grainKey, 1, (_, c) => c + 1) - 1;
            return Plan.TryGetValue(grainKey, out var plan) && n < plan.Length ? plan[n] : null;
        }
    }

    private sealed class ApplyFaultFilter(ApplyFault fault) : IOutgoingGrainCallFilter
    {
        public async Task Invoke(IOutgoingGrainCallContext context)
        {
            if (context.InterfaceMethod?.Name != nameof(IEntityGrain.ApplyEvents) || context.InterfaceMethod.DeclaringType != typeof(IEntityGrain))
            {
                await context.Invoke();
                return;
            }

            switch (fault.Next(context.TargetId.Key.ToString()!))
            {
                case Fault.Refused:
                    throw new SiloUnavailableException("simulated: the call did not reach its entity");
                case Fault.AnswerLost:
                    await context.Invoke();
                    throw new SiloUnavailableException("simulated: the entity's silo died after it applied the events");
                default:
                    await context.Invoke();
                    break;
            }
        }
    }
}
