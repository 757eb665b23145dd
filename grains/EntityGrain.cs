using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using Orleans.Streams;
using Orleans.Streams.Core;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.State;

namespace OrleansFeatures.Grains;

/// <summary>
/// One entity's online features: applies events to every view of its entity type, persists before it
/// answers, and serves reads from memory. Thin by design: the engine does the arithmetic.
/// </summary>
[ImplicitStreamSubscription(StreamedEvent.Namespace)]
public sealed partial class EntityGrain(
    [PersistentState("entity", FeatureStoreStorage.Name)] IPersistentState<EntityState> state,
    DefinitionCatalog catalog,
    ILogger<EntityGrain> logger) : Grain, IEntityGrain, IStreamSubscriptionObserver, IAsyncBatchObserver<StreamedEvent>
{
    private readonly Dictionary<string, LiveView> _views = new(StringComparer.Ordinal);
    private string _entityType = "";
    private long _syncedVersion = -1;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        (_entityType, _) = EntityKey.Parse(this.GetPrimaryKeyString());
        var definitions = catalog.Current.Version > 0 ? catalog.Current : await catalog.RefreshAsync(cancellationToken);
        SyncViews(definitions);
    }

    public Task<EventOutcome[]> ApplyEvents(long registryVersion, string source, FeatureEvent[] events) =>
        ApplyAsync(registryVersion, source, events);

    public async Task OnSubscribed(IStreamSubscriptionHandleFactory handleFactory)
    {
        // Implicit subscriptions must be resumed with an observer, or Orleans drops their batches.
        await handleFactory.Create<StreamedEvent>().ResumeAsync(this);
    }

    /// <summary>
    /// A batch from a Kafka partition: applied and persisted before this returns, so the provider commits the
    /// offsets only once the events are durable.
    /// </summary>
    public async Task OnNextAsync(IList<SequentialItem<StreamedEvent>> items)
    {
        var start = 0;
        while (start < items.Count)
        {
            // Consecutive events of one source and registry version go through one apply and one write.
            var first = items[start].Item;
            var end = start + 1;
            while (end < items.Count && items[end].Item.Source == first.Source && items[end].Item.RegistryVersion == first.RegistryVersion)
            {
                end++;
            }

            var events = new FeatureEvent[end - start];
            for (var i = start; i < end; i++)
            {
                events[i - start] = items[i].Item.Event;
            }

            var outcomes = await ApplyAsync(first.RegistryVersion, first.Source, events);
            CountStreamOutcomes(outcomes);
            start = end;
        }
    }

    public Task OnCompletedAsync() => Task.CompletedTask;

    public Task OnErrorAsync(Exception ex)
    {
        LogStreamError(logger, ex, this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    private static void CountStreamOutcomes(EventOutcome[] outcomes)
    {
        long accepted = 0, duplicate = 0, late = 0, rejected = 0;
        foreach (var outcome in outcomes)
        {
            switch (outcome.Kind)
            {
                case EventOutcomeKind.Accepted: accepted++; break;
                case EventOutcomeKind.Duplicate: duplicate++; break;
                case EventOutcomeKind.Late: late++; break;
                default: rejected++; break;
            }
        }

        var tag = new KeyValuePair<string, object?>("path", "stream");
        if (accepted > 0) FeatureStoreMetrics.EventsAccepted.Add(accepted, tag);
        if (duplicate > 0) FeatureStoreMetrics.EventsDuplicate.Add(duplicate, tag);
        if (late > 0) FeatureStoreMetrics.EventsLate.Add(late, tag);
        if (rejected > 0) FeatureStoreMetrics.EventsRejected.Add(rejected, tag);
    }

    private async Task<EventOutcome[]> ApplyAsync(long registryVersion, string source, FeatureEvent[] events)
    {
        SyncViews(await catalog.EnsureAtLeastAsync(registryVersion));
        var outcomes = new EventOutcome[events.Length];
        var changed = false;
        for (var i = 0; i < events.Length; i++)
        {
            var accepted = false;
            var late = false;
            var fed = false;
            foreach (var view in _views.Values)
            {
                if (!string.Equals(view.State.View.Definition.Source.Name, source, StringComparison.Ordinal))
                {
                    continue;
                }

                fed = true;
                switch (view.State.Apply(events[i]))
                {
                    case ApplyOutcome.Accepted:
                        accepted = true;
                        view.Dirty = true;
                        break;
                    case ApplyOutcome.Late:
                        late = true;
                        view.Dirty = true;
                        break;
                }
            }

            outcomes[i] = !fed ? new EventOutcome(EventOutcomeKind.Rejected, $"entity type '{_entityType}' has no feature view fed by source '{source}'")
                : accepted ? EventOutcome.Accepted
                : late ? new EventOutcome(EventOutcomeKind.Late, null)
                : EventOutcome.Duplicate;
            changed |= accepted || late;
        }

        if (changed)
        {
            await PersistAsync();
        }

        return outcomes;
    }

    public async Task<FeatureValueDto[]> Read(long registryVersion, FeatureRefList features, long nowMs)
    {
        if (registryVersion > _syncedVersion)
        {
            SyncViews(await catalog.EnsureAtLeastAsync(registryVersion));
        }

        var values = new FeatureValueDto[features.Count];
        for (var i = 0; i < values.Length; i++)
        {
            if (!_views.TryGetValue(features.Views[i], out var view) || !view.HasEvents)
            {
                values[i] = new FeatureValueDto(ScalarValue.Null, FeatureStatusKind.NotFound, 0);
                continue;
            }

            var index = view.State.View.IndexOf(features.Features[i]);
            if (index < 0)
            {
                values[i] = new FeatureValueDto(ScalarValue.Null, FeatureStatusKind.NotFound, 0);
                continue;
            }

            var reading = view.State.Read(index, nowMs);
            values[i] = new FeatureValueDto(reading.Value, ToStatus(reading.Status), reading.EventTimeMs);
        }

        return values;
    }

    private static FeatureStatusKind ToStatus(ReadingStatus status) => status switch
    {
        ReadingStatus.Present => FeatureStatusKind.Present,
        ReadingStatus.Expired => FeatureStatusKind.Expired,
        _ => FeatureStatusKind.NotFound,
    };

    /// <summary>
    /// Aligns in-memory views with the definitions: restores persisted state of views whose version still
    /// matches, starts new views empty, and forgets views that were removed or replaced by a new version.
    /// </summary>
    private void SyncViews(ActiveDefinitions definitions)
    {
        if (definitions.Version == _syncedVersion)
        {
            return;
        }

        var wanted = definitions.ViewsOfEntityType(_entityType);
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var compiled in wanted)
        {
            var name = compiled.Definition.Name;
            keep.Add(name);
            if (_views.TryGetValue(name, out var live) && ReferenceEquals(live.State.View, compiled))
            {
                continue;
            }

            if (_views.TryGetValue(name, out live) && live.State.View.Definition.Version == compiled.Definition.Version)
            {
                // Same version, recompiled (a non-breaking change such as a new feature or TTL): carry state over.
                _views[name] = new LiveView(EngineStateMapper.Rebind(live.State, compiled)) { Dirty = live.Dirty };
                continue;
            }

            if (state.State.Views.TryGetValue(name, out var packed))
            {
                if (EngineStateMapper.PackedViewVersion(packed) == compiled.Definition.Version)
                {
                    _views[name] = new LiveView(EngineStateMapper.Unpack(compiled, packed));
                    continue;
                }
            }
            else if (state.State.LegacyViews.TryGetValue(name, out var stored) && stored.ViewVersion == compiled.Definition.Version)
            {
                // Written by a version before 2026-11-25; the next write stores it in the packed form.
                _views[name] = new LiveView(EngineStateMapper.Restore(compiled, stored)) { Dirty = true };
                continue;
            }

            _views[name] = new LiveView(new FeatureViewState(compiled));
        }

        foreach (var name in _views.Keys.ToList())
        {
            if (!keep.Contains(name))
            {
                _views.Remove(name);
            }
        }

        _syncedVersion = definitions.Version;
    }

    private async Task PersistAsync()
    {
        foreach (var (name, view) in _views)
        {
            if (view.Dirty)
            {
                state.State.Views[name] = EngineStateMapper.Pack(view.State);
            }
        }

        state.State.LegacyViews.Clear();

        // Views removed from the definitions are dropped from storage on the next write.
        foreach (var name in state.State.Views.Keys.ToList())
        {
            if (!_views.ContainsKey(name))
            {
                state.State.Views.Remove(name);
            }
        }

        try
        {
            await state.WriteStateAsync();
        }
        catch (Exception exception)
        {
            // Memory is now ahead of storage. Deactivate so the next call reloads the durable state, and fail the
            // call so no event is acknowledged that is not durable.
            LogPersistFailed(logger, exception, this.GetPrimaryKeyString());
            DeactivateOnIdle();
            throw;
        }

        foreach (var view in _views.Values)
        {
            view.Dirty = false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Entity {Key}: its event stream reported an error")]
    private static partial void LogStreamError(ILogger logger, Exception exception, string key);

    [LoggerMessage(Level = LogLevel.Error, Message = "Entity {Key} failed to persist its state; deactivating so it reloads from storage")]
    private static partial void LogPersistFailed(ILogger logger, Exception exception, string key);

    private sealed class LiveView(FeatureViewState state)
    {
        public FeatureViewState State { get; } = state;

        public bool Dirty { get; set; }

        public bool HasEvents => State.AcceptedCount > 0;
    }
}
