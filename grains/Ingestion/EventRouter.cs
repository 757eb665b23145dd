using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans;
using OrleansFeatures.Core.Events;
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

    /// <summary>Not applied because a grain or its storage failed; safe to retry (duplicates are absorbed).</summary>
    Failed,
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
    /// <summary>The reason every event gets when its entity or the entity's storage fails.</summary>
    public const string GrainFailureReason = "not applied: the entity or its storage failed; safe to retry";

    private readonly LogThrottle _grainFailureLog = new(TimeSpan.FromSeconds(10));
    private KafkaEventProducer? _producer;

    /// <summary>Validates raw events (id/time may come from fields) and routes the valid ones.</summary>
    public async Task<RoutedEventResult[]> RouteAsync(string source, IReadOnlyList<RawEvent> events, CancellationToken cancellationToken)
    {
        var definitions = catalog.Current;
        if (!definitions.Set.Sources.ContainsKey(source))
        {
            definitions = await catalog.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }

        if (!definitions.Set.Sources.TryGetValue(source, out var sourceDefinition))
        {
            throw new UnknownSourceException(source);
        }

        var results = new RoutedEventResult[events.Count];
        var normalized = new FeatureEvent?[events.Count];
        for (var i = 0; i < events.Count; i++)
        {
            var raw = events[i];
            normalized[i] = EventSchema.Normalize(sourceDefinition, raw.EventId, raw.TimestampMs, raw.Fields, out var error);
            if (normalized[i] is { } candidate && admission.Check(candidate, definitions.ViewsFedBy(source)) is { } refused)
            {
                (normalized[i], error) = (null, refused);
            }

            if (normalized[i] is null)
            {
                results[i] = new RoutedEventResult(RoutedEventStatus.Rejected, error);
            }
        }

        await RouteNormalizedAsync(definitions, source, normalized, results, cancellationToken).ConfigureAwait(false);
        CountOutcomes(results);
        return results;
    }

    private async Task RouteNormalizedAsync(
        ActiveDefinitions definitions,
        string source,
        FeatureEvent?[] events,
        RoutedEventResult[] results,
        CancellationToken cancellationToken)
    {
        // One target per (entity type, key field): two views of one entity type keyed by the same field share a grain call.
        var targets = new List<(string EntityType, string KeyField)>();
        foreach (var view in definitions.ViewsFedBy(source))
        {
            var target = (view.Definition.EntityType, view.Definition.KeyField);
            if (!targets.Contains(target))
            {
                targets.Add(target);
            }
        }

        var perGrain = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var merged = new Merge[events.Length];
        for (var i = 0; i < events.Length; i++)
        {
            if (events[i] is not { } featureEvent)
            {
                continue;
            }

            if (targets.Count == 0)
            {
                results[i] = new RoutedEventResult(RoutedEventStatus.Rejected, $"no feature view reads source '{source}'");
                events[i] = null;
                continue;
            }

            string? missing = null;
            foreach (var (entityType, keyField) in targets)
            {
                if (!EventSchema.TryGetKey(featureEvent, keyField, out _))
                {
                    missing = $"event '{featureEvent.EventId}' has no entity key: field '{keyField}' (entity type '{entityType}') is missing or empty";
                    break;
                }
            }

            if (missing is not null)
            {
                results[i] = new RoutedEventResult(RoutedEventStatus.Rejected, missing);
                events[i] = null;
                continue;
            }

            foreach (var (entityType, keyField) in targets)
            {
                EventSchema.TryGetKey(featureEvent, keyField, out var entityId);
                var grainKey = EntityKey.Format(entityType, entityId);
                if (!perGrain.TryGetValue(grainKey, out var indexes))
                {
                    perGrain[grainKey] = indexes = [];
                }

                indexes.Add(i);
            }
        }

        if (ingestion.Value.ProducesToKafka)
        {
            await ProduceAsync(source, targets[0].KeyField, events, results, cancellationToken).ConfigureAwait(false);
            return;
        }

        var calls = new List<Task>(perGrain.Count);
        foreach (var (grainKey, indexes) in perGrain)
        {
            calls.Add(ApplyToGrainAsync(grainKey, indexes, definitions.Version, source, events, merged, cancellationToken));
        }

        await Task.WhenAll(calls).ConfigureAwait(false);
        for (var i = 0; i < events.Length; i++)
        {
            if (events[i] is not null)
            {
                results[i] = merged[i].ToResult();
            }
        }
    }

    /// <summary>Kafka mode: each valid event goes to its source topic, keyed by its first entity id; acknowledged by the broker.</summary>
    private async Task ProduceAsync(string source, string keyField, FeatureEvent?[] events, RoutedEventResult[] results, CancellationToken cancellationToken)
    {
        _producer ??= services.GetService<KafkaEventProducer>()
            ?? throw new InvalidOperationException("FeatureStore:Ingestion:Mode is Kafka but no Kafka connection is configured (FeatureStore:Kafka:BootstrapServers)");
        var sends = new List<(int Index, Task Send)>();
        for (var i = 0; i < events.Length; i++)
        {
            if (events[i] is { } featureEvent)
            {
                EventSchema.TryGetKey(featureEvent, keyField, out var entityId);
                sends.Add((i, _producer.ProduceAsync(source, entityId, featureEvent, cancellationToken)));
            }
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
                results[index] = new RoutedEventResult(RoutedEventStatus.Failed, $"not written to topic '{source}' ({exception.Message}); safe to retry");
            }
        }
    }

    private async Task ApplyToGrainAsync(
        string grainKey,
        List<int> indexes,
        long registryVersion,
        string source,
        FeatureEvent?[] events,
        Merge[] merged,
        CancellationToken cancellationToken)
    {
        var batch = new FeatureEvent[indexes.Count];
        for (var j = 0; j < indexes.Count; j++)
        {
            batch[j] = events[indexes[j]]!;
        }

        try
        {
            var outcomes = await grainFactory.GetGrain<IEntityGrain>(grainKey)
                .ApplyEvents(registryVersion, source, batch)
                .WaitAsync(cancellationToken)
                .ConfigureAwait(false);
            lock (merged)
            {
                for (var j = 0; j < indexes.Count; j++)
                {
                    merged[indexes[j]].Add(outcomes[j]);
                }
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            FeatureStoreMetrics.BackgroundFailures.Add(1);
            if (_grainFailureLog.TryEnter(out var suppressed))
            {
                LogGrainFailed(logger, exception, grainKey, indexes.Count, suppressed);
            }

            lock (merged)
            {
                foreach (var index in indexes)
                {
                    // Fixed text: the exception (with its stack trace) is logged above; a reason per event must stay short.
                    merged[index].Fail(GrainFailureReason);
                }
            }
        }
    }

    private static void CountOutcomes(RoutedEventResult[] results)
    {
        long accepted = 0, duplicate = 0, late = 0, rejected = 0;
        foreach (var result in results)
        {
            switch (result.Status)
            {
                case RoutedEventStatus.Accepted: accepted++; break;
                case RoutedEventStatus.Duplicate: duplicate++; break;
                case RoutedEventStatus.Late: late++; break;
                default: rejected++; break;
            }
        }

        if (accepted > 0) FeatureStoreMetrics.EventsAccepted.Add(accepted);
        if (duplicate > 0) FeatureStoreMetrics.EventsDuplicate.Add(duplicate);
        if (late > 0) FeatureStoreMetrics.EventsLate.Add(late);
        if (rejected > 0) FeatureStoreMetrics.EventsRejected.Add(rejected);
    }

    /// <summary>Combines the outcomes of the grains one event reached: a failure wins, then acceptance, then lateness.</summary>
    private struct Merge
    {
        private bool _accepted;
        private bool _late;
        private string? _failure;
        private string? _rejection;

        public void Add(EventOutcome outcome)
        {
            switch (outcome.Kind)
            {
                case EventOutcomeKind.Accepted: _accepted = true; break;
                case EventOutcomeKind.Late: _late = true; break;
                case EventOutcomeKind.Rejected: _rejection ??= outcome.Reason; break;
            }
        }

        public void Fail(string reason) => _failure ??= reason;

        public readonly RoutedEventResult ToResult() =>
            _failure is not null ? new(RoutedEventStatus.Failed, _failure)
            : _rejection is not null ? new(RoutedEventStatus.Rejected, _rejection)
            : _accepted ? new(RoutedEventStatus.Accepted, null)
            : _late ? new(RoutedEventStatus.Late, "older than the view's watermark minus its allowed lateness")
            : new(RoutedEventStatus.Duplicate, null);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Producing an event to topic {Topic} failed; reported as failed")]
    private static partial void LogProduceFailed(ILogger logger, Exception exception, string topic);

    [LoggerMessage(Level = LogLevel.Error, Message = "Entity {GrainKey} failed to apply {Count} events; they are reported as failed ({Suppressed} such failures not logged in the previous 10 s)")]
    private static partial void LogGrainFailed(ILogger logger, Exception exception, string grainKey, int count, long suppressed);
}
