using Microsoft.Extensions.Logging;
using Orleans;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Definitions;

/// <summary>
/// The silo-wide cache of the registry's current definitions. Callers that saw a newer registry version
/// pass it along (<see cref="EnsureAtLeastAsync"/>), so a grain never applies an event with definitions
/// older than the ones it was routed with; a background refresh picks up changes made elsewhere.
/// </summary>
public sealed partial class DefinitionCatalog(IGrainFactory grainFactory, FeatureTypeCatalog featureTypes, ILogger<DefinitionCatalog> logger)
{
    private readonly SemaphoreSlim _refreshLock = new(1, 1);
    private volatile ActiveDefinitions _current = ActiveDefinitions.Empty;

    public ActiveDefinitions Current => _current;

    /// <summary>Returns definitions of at least <paramref name="version"/>, fetching them from the registry if needed.</summary>
    public ValueTask<ActiveDefinitions> EnsureAtLeastAsync(long version, CancellationToken cancellationToken = default)
    {
        var current = _current;
        return current.Version >= version ? ValueTask.FromResult(current) : new ValueTask<ActiveDefinitions>(RefreshAsync(version, cancellationToken));
    }

    /// <summary>Fetches the registry's current version if it is newer than the cached one.</summary>
    public Task<ActiveDefinitions> RefreshAsync(CancellationToken cancellationToken = default) => RefreshAsync(0, cancellationToken);

    private async Task<ActiveDefinitions> RefreshAsync(long atLeast, CancellationToken cancellationToken)
    {
        await _refreshLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var registry = grainFactory.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
            if (_current.Version >= atLeast && atLeast > 0)
            {
                return _current;
            }

            var latest = await registry.GetVersion().WaitAsync(cancellationToken).ConfigureAwait(false);
            if (latest <= _current.Version)
            {
                return _current;
            }

            var snapshot = await registry.GetSnapshot().WaitAsync(cancellationToken).ConfigureAwait(false);
            var documents = new List<DefinitionDocument>(snapshot.Documents.Count);
            foreach (var document in snapshot.Documents)
            {
                documents.Add(new DefinitionDocument(document.Name, document.Yaml));
            }

            var loaded = DefinitionLoader.Load(documents);
            if (loaded.Set is null)
            {
                // The registry validated these documents when they were applied; failing here means the parser
                // changed incompatibly between releases. Keep serving the last good definitions.
                FeatureStoreMetrics.BackgroundFailures.Add(1);
                LogStoredDefinitionsInvalid(logger, snapshot.Version, string.Join("; ", loaded.Errors));
                return _current;
            }

            ActiveDefinitions active;
            try
            {
                active = new ActiveDefinitions(snapshot.Version, snapshot.AppliedAt, loaded.Set, featureTypes);
            }
            catch (FeatureTypeNotLoadedException exception)
            {
                // The registry refuses a type some active silo lacks; a silo that joined later without it lands here.
                FeatureStoreMetrics.BackgroundFailures.Add(1);
                LogFeatureTypeMissing(logger, snapshot.Version, exception.Message);
                return _current;
            }

            _current = active;
            LogLoaded(logger, active.Version, active.Set.FeatureViews.Count, active.Set.FeatureServices.Count);
            return active;
        }
        finally
        {
            _refreshLock.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Definitions version {Version} loaded: {Views} feature views, {Services} feature services")]
    private static partial void LogLoaded(ILogger logger, long version, int views, int services);

    [LoggerMessage(Level = LogLevel.Error, Message = "Definitions version {Version} name a feature type this silo has not loaded; still serving the previous version: {Error}")]
    private static partial void LogFeatureTypeMissing(ILogger logger, long version, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stored definitions version {Version} no longer validate; still serving the previous version: {Errors}")]
    private static partial void LogStoredDefinitionsInvalid(ILogger logger, long version, string errors);
}
