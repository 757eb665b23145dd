using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>What became of one routed event.</summary>
public enum RoutedEventStatus
{
    Accepted,
    Duplicate,
    Late,
    Rejected,

    /// <summary>Known not to be applied (it never reached an entity or a topic); retry with the same id.</summary>
    Failed,

    /// <summary>
    /// The store cannot know whether it was applied: the call to its entity failed after it may have acted (the silo
    /// died or stopped mid-call, a timeout, a write whose acknowledgement was lost). Retry with the same id: the retry
    /// answers DUPLICATE if it had been applied, ACCEPTED if not. Never re-send it under a new id.
    /// </summary>
    UnknownOutcome,
}

public readonly record struct RoutedEventResult(RoutedEventStatus Status, string? Reason);

/// <summary>A source name the registry does not know.</summary>
public sealed class UnknownSourceException(string source)
    : Exception($"source '{source}' is not defined in the registry")
{
    public string SourceName { get; } = source;
}

/// <summary>
/// The push entrance: takes raw events through core's <see cref="EventEntrance"/> (normalise, admit, route; the steps
/// streams and offline take too), sends each entity grain its events in one call (<see cref="EntityDispatch"/>), or in
/// <c>Ingestion:Mode=Kafka</c> produces them to their topic, and answers one result per event, counted once
/// (<see cref="OutcomeTally"/>). Used by the push API and the demo generator.
/// </summary>
public sealed partial class EventRouter(
    IGrainFactory grainFactory,
    IngestionEntrance entrance,
    IOptions<IngestionOptions> ingestion,
    IServiceProvider services,
    ILogger<EventRouter> logger)
{
    /// <summary>Entity grain calls one push keeps in flight.</summary>
    private const int MaxCallsInFlight = 256;

    /// <summary>The reason every event gets when the call to its entity failed, and failed again when made again: the entity may have applied and written it.</summary>
    public const string GrainFailureReason = "outcome unknown: its entity call failed mid-way; retry with the same event id";

    private readonly LogThrottle _grainFailureLog = new(TimeSpan.FromSeconds(10));
    private KafkaEventProducer? _producer;

    /// <summary>
    /// Validates raw events (id/time may come from fields) and routes the valid ones. An event the transport already
    /// refused (<see cref="RawEvent.Refused"/>) answers <see cref="RoutedEventStatus.Rejected"/> with its reason.
    /// </summary>
    public async Task<RoutedEventResult[]> RouteAsync(string source, IReadOnlyList<RawEvent> events, CancellationToken cancellationToken)
    {
        var freshness = IngestionFreshness.ForPush(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var results = new RoutedEventResult[events.Count];
        var normalized = new FeatureEvent?[events.Count];
        if (!AllRefused(events, results))
        {
            var (definitions, found) = await entrance.FindAsync(source, EntrancePolicy.Push, cancellationToken).ConfigureAwait(false);
            if (found is not { } route)
            {
                throw new UnknownSourceException(source);
            }

            var dispatch = new EntityDispatch();
            var entities = new List<EntityRef>(route.Route.Targets.Count);
            var routed = new List<(int Index, string Key)>();
            var nowMs = entrance.NowMs;
            for (var i = 0; i < events.Count; i++)
            {
                var raw = events[i];
                if (raw.Refused is not null)
                {
                    continue;
                }

                entities.Clear();
                var verdict = EventEntrance.Enter(route, raw.EventId, raw.TimestampMs, raw.Fields, transportKey: null, nowMs, entities);
                if (verdict.Decision != RouteDecision.Routed)
                {
                    // Push skips nothing (EntrancePolicy.Push): an event no view reads is rejected with the reason.
                    results[i] = new RoutedEventResult(RoutedEventStatus.Rejected, verdict.Reason);
                    continue;
                }

                normalized[i] = verdict.Event;
                // Kafka mode keys the produced message by the first entity (the topic's partitioning key).
                routed.Add((i, entities[0].EntityId));
                foreach (var entity in entities)
                {
                    dispatch.Add(IngestionEntrance.GrainKey(entity), source, i);
                }
            }

            if (ingestion.Value.ProducesToKafka)
            {
                await ProduceAsync(source, normalized, routed, results, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await DispatchAsync(definitions.Version, dispatch, normalized, routed, results, freshness, cancellationToken).ConfigureAwait(false);
            }
        }

        var producedToKafka = ingestion.Value.ProducesToKafka;
        var tally = new OutcomeTally();
        foreach (var result in results)
        {
            // In Kafka mode an event the broker took is counted where it is applied (the stream path), not here too.
            if (!(producedToKafka && result.Status == RoutedEventStatus.Accepted))
            {
                tally.Add(result.Status);
            }
        }

        tally.Record(OutcomeTally.PushPath);
        return results;
    }

    private static bool AllRefused(IReadOnlyList<RawEvent> events, RoutedEventResult[] results)
    {
        var all = true;
        for (var i = 0; i < events.Count; i++)
        {
            if (events[i].Refused is { } reason)
            {
                results[i] = new RoutedEventResult(RoutedEventStatus.Rejected, reason);
            }
            else
            {
                all = false;
            }
        }

        return all;
    }

    private async Task DispatchAsync(
        long registryVersion,
        EntityDispatch dispatch,
        FeatureEvent?[] events,
        List<(int Index, string Key)> routed,
        RoutedEventResult[] results,
        IngestionFreshness freshness,
        CancellationToken cancellationToken)
    {
        var result = await dispatch.RunAsync(grainFactory, registryVersion, events, MaxCallsInFlight, cancellationToken, freshness: freshness).ConfigureAwait(false);
        var outcomes = result.Outcomes;
        var failures = result.Failures;
        if (failures.Count > 0)
        {
            // The same-id retry the API asks of callers, made here first: the events go again to each entity whose call
            // failed, which answers for each exactly what it holds (DUPLICATE when the failed call had applied it), so
            // the answer is definite. De-duplication makes it safe whatever the failed call did.
            var firstFailures = failures;
            var started = Stopwatch.GetTimestamp();
            for (var attempt = 0; failures.Count > 0 && Stopwatch.GetElapsedTime(started) + EntityRetry.Delay(attempt) < EntityRetryBudget; attempt++)
            {
                DispatchResult retry;
                try
                {
                    await Task.Delay(EntityRetry.Delay(attempt), cancellationToken).ConfigureAwait(false);
                    retry = await dispatch.Only(failures.Select(f => f.GrainKey))
                        .RunAsync(grainFactory, registryVersion, events, MaxCallsInFlight, cancellationToken, freshness: freshness).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // The caller gave up (its deadline): what is still failing stays unknown.
                    break;
                }
                for (var i = 0; i < outcomes.Length; i++)
                {
                    outcomes[i] = outcomes[i].WithRetry(retry.Outcomes[i]);
                }

                failures = retry.Failures;
            }

            FeatureStoreMetrics.BackgroundFailures.Add(firstFailures.Count);
            if (_grainFailureLog.TryEnter(out var suppressed))
            {
                var (grainKey, error) = failures.Count > 0 ? failures[0] : firstFailures[0];
                if (failures.Count > 0)
                {
                    LogGrainFailed(logger, error, grainKey, firstFailures.Count, failures.Count, suppressed);
                }
                else
                {
                    LogGrainRetried(logger, error, grainKey, firstFailures.Count, suppressed);
                }
            }
        }

        foreach (var (index, _) in routed)
        {
            results[index] = outcomes[index].ToResult();
        }
    }

    /// <summary>How long a push keeps calling again an entity whose call failed before it answers its events UNKNOWN_OUTCOME.</summary>
    internal static readonly TimeSpan EntityRetryBudget = TimeSpan.FromSeconds(2);

    /// <summary>The store's back-off rule for an entity call of a push made again: 50 ms doubling to 400 ms.</summary>
    private static readonly RetryBackoff EntityRetry = new(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(400));

    /// <summary>
    /// Kafka mode: each valid event goes to its source topic, keyed by its first entity id; acknowledged by the broker.
    /// </summary>
    private async Task ProduceAsync(string source, FeatureEvent?[] events, List<(int Index, string Key)> routed, RoutedEventResult[] results, CancellationToken cancellationToken)
    {
        _producer ??= services.GetService<KafkaEventProducer>()
            ?? throw new InvalidOperationException("FeatureStore:Ingestion:Mode is Kafka but no Kafka connection is configured (FeatureStore:Kafka:BootstrapServers)");
        var sends = new List<(int Index, Task Send)>(routed.Count);
        foreach (var (index, key) in routed)
        {
            sends.Add((index, _producer.ProduceAsync(source, key, events[index]!, cancellationToken)));
        }

        foreach (var (index, send) in sends)
        {
            try
            {
                await send.ConfigureAwait(false);
                results[index] = new RoutedEventResult(RoutedEventStatus.Accepted, null);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                FeatureStoreMetrics.BackgroundFailures.Add(1);
                // Only the producer knows whether the broker may have it (a timed-out send may have been written).
                var notPersisted = KafkaEventProducer.NotPersisted(exception);
                LogProduceFailed(logger, exception, source, notPersisted ? "FAILED (not written)" : "UNKNOWN_OUTCOME (the topic may have it)");
                results[index] = notPersisted
                    ? new RoutedEventResult(RoutedEventStatus.Failed, $"not written to topic '{source}'; retry with the same event id")
                    : new RoutedEventResult(RoutedEventStatus.UnknownOutcome, $"outcome unknown: topic '{source}' may have it; retry with the same event id");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Producing an event to topic {Topic} failed; reported as {Outcome}")]
    private static partial void LogProduceFailed(ILogger logger, Exception exception, string topic, string outcome);

    [LoggerMessage(Level = LogLevel.Error, Message = "Entity calls of a push failed ({Failed} entities) and {Unknown} still failed when called again with the same events for up to 2 s, e.g. entity {GrainKey}; their events are reported as of unknown outcome ({Suppressed} such pushes not logged in the previous 10 s)")]
    private static partial void LogGrainFailed(ILogger logger, Exception exception, string grainKey, int failed, int unknown, long suppressed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Entity calls of a push failed ({Failed} entities, e.g. entity {GrainKey}) and answered when called again with the same events ({Suppressed} such pushes not logged in the previous 10 s)")]
    private static partial void LogGrainRetried(ILogger logger, Exception exception, string grainKey, int failed, long suppressed);
}
