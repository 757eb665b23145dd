using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Grains.Definitions;
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
/// The one ingestion path: validates events against their source, finds every entity they touch (one per
/// entity type fed by the source, keyed by that view's key field), sends each entity grain its events in one
/// call, and merges the per-grain outcomes into one result per event. Used by the push API and the demo generator.
/// </summary>
public sealed partial class EventRouter(
    IGrainFactory grainFactory,
    DefinitionCatalog catalog,
    IOptions<IngestionOptions> ingestion,
    IServiceProvider services,
    ILogger<EventRouter> logger,
    EventAdmissionPolicy admission)
{
    /// <summary>Entity grain calls one push keeps in flight.</summary>
    private const int MaxCallsInFlight = 256;


    /// <summary>The reason every event gets when the call to its entity fails: the entity may have applied and written it.</summary>
    public const string GrainFailureReason = "outcome unknown: its entity call failed mid-way; retry with the same event id";

    private readonly LogThrottle _grainFailureLog = new(TimeSpan.FromSeconds(10));
    private KafkaEventProducer? _producer;

    /// <summary>Validates raw events (id/time may come from fields) and routes the valid ones.</summary>
    public async Task<RoutedEventResult[]> RouteAsync(string source, IReadOnlyList<RawEvent> events, CancellationToken cancellationToken)
    {
        var freshness = IngestionFreshness.ForPush(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var definitions = catalog.Current;
        if (definitions.Routing.ForSource(source) is null)
        {
            definitions = await catalog.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }

        if (definitions.Routing.ForSource(source) is not { } route)
        {
            throw new UnknownSourceException(source);
        }

        var results = new RoutedEventResult[events.Count];
        var normalized = new FeatureEvent?[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            var raw = events[i];
            normalized[i] = EventSchema.Normalize(route.Source, raw.EventId, raw.TimestampMs, raw.Fields, out var error);
            if (normalized[i] is { } candidate && admission.Check(candidate, definitions.ViewsFedBy(source)) is { } refused)
            {
                (normalized[i], error) = (null, refused);
            }

            if (normalized[i] is null)
            {
                results[i] = new RoutedEventResult(RoutedEventStatus.Rejected, error);
            }
        }

        await RouteNormalizedAsync(definitions, source, normalized, results, freshness, cancellationToken).ConfigureAwait(false);
        CountOutcomes(results);
        return results;
    }

    private async Task RouteNormalizedAsync(
        ActiveDefinitions definitions,
        string source,
        FeatureEvent?[] events,
        RoutedEventResult[] results,
        IngestionFreshness freshness,
        CancellationToken cancellationToken)
    {
        var route = definitions.Routing.ForSource(source)!;
        var dispatch = new EntityDispatch();
        var entities = new List<EntityRef>(route.Targets.Count);
        var routed = new List<(int Index, string Key)>();
        for (var i = 0; i < events.Length; i++)
        {
            if (events[i] is not { } featureEvent)
            {
                continue;
            }

            entities.Clear();
            if (route.Route(featureEvent, transportKey: null, EntrancePolicy.Push, entities, out var reason) != RouteDecision.Routed)
            {
                results[i] = new RoutedEventResult(RoutedEventStatus.Rejected, reason);
                events[i] = null;
                continue;
            }

            // Kafka mode keys the produced message by the first entity (the topic's partitioning key).
            routed.Add((i, entities[0].EntityId));
            foreach (var entity in entities)
            {
                dispatch.Add(EntityKey.Format(entity.EntityType, entity.EntityId), source, i);
            }
        }

        if (ingestion.Value.ProducesToKafka)
        {
            await ProduceAsync(source, events, routed, results, cancellationToken).ConfigureAwait(false);
            return;
        }

        var result = await dispatch.RunAsync(grainFactory, definitions.Version, events, MaxCallsInFlight, cancellationToken, freshness: freshness).ConfigureAwait(false);
        if (result.Failures.Count > 0)
        {
            FeatureStoreMetrics.BackgroundFailures.Add(result.Failures.Count);
            if (_grainFailureLog.TryEnter(out var suppressed))
            {
                var (grainKey, error) = result.Failures[0];
                LogGrainFailed(logger, error, grainKey, result.Failures.Count - 1, suppressed);
            }
        }

        foreach (var (index, _) in routed)
        {
            var merged = result.Outcomes[index];
            // A failed entity call is never FAILED ("not applied"): a silo killed after writing, or a write whose
            // acknowledgement was lost, fails the call with the events applied. Fixed text: the exception (with its
            // stack trace) is logged above; a reason per event must stay short.
            results[index] = merged.Failed
                ? new RoutedEventResult(RoutedEventStatus.UnknownOutcome, GrainFailureReason)
                : ToResult(merged.ToOutcome());
        }
    }

    private static RoutedEventResult ToResult(EventOutcome outcome) => outcome.Kind switch
    {
        EventOutcomeKind.Accepted => new(RoutedEventStatus.Accepted, null),
        EventOutcomeKind.Duplicate => new(RoutedEventStatus.Duplicate, null),
        EventOutcomeKind.Late => new(RoutedEventStatus.Late, outcome.Reason),
        _ => new(RoutedEventStatus.Rejected, outcome.Reason),
    };

    /// <summary>Kafka mode: each valid event goes to its source topic, keyed by its first entity id; acknowledged by the broker.</summary>
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
                LogProduceFailed(logger, exception, source);
                // Only the producer knows whether the broker may have it (a timed-out send may have been written).
                results[index] = KafkaEventProducer.NotPersisted(exception)
                    ? new RoutedEventResult(RoutedEventStatus.Failed, $"not written to topic '{source}'; retry with the same event id")
                    : new RoutedEventResult(RoutedEventStatus.UnknownOutcome, $"outcome unknown: topic '{source}' may have it; retry with the same event id");
            }
        }
    }

    private static void CountOutcomes(RoutedEventResult[] results)
    {
        var tally = new OutcomeTally();
        foreach (var result in results)
        {
            tally.Add(result.Status switch
            {
                RoutedEventStatus.Accepted => EventOutcomeKind.Accepted,
                RoutedEventStatus.Duplicate => EventOutcomeKind.Duplicate,
                RoutedEventStatus.Late => EventOutcomeKind.Late,
                _ => EventOutcomeKind.Rejected,
            });
        }

        tally.Record();
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Producing an event to topic {Topic} failed; reported as failed")]
    private static partial void LogProduceFailed(ILogger logger, Exception exception, string topic);

    [LoggerMessage(Level = LogLevel.Error, Message = "Entity {GrainKey} (and {Others} more of this push) failed to apply pushed events; they are reported as of unknown outcome ({Suppressed} such failures not logged in the previous 10 s)")]
    private static partial void LogGrainFailed(ILogger logger, Exception exception, string grainKey, int others, long suppressed);
}
