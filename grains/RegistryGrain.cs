using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains;

/// <summary>Durable registry state: the current documents and a bounded history of earlier versions.</summary>
[GenerateSerializer, Alias("of.RegistryState")]
public sealed class RegistryState
{
    [Id(0)] public long Version { get; set; }

    [Id(1)] public DateTimeOffset AppliedAt { get; set; }

    [Id(2)] public List<DefinitionDocumentDto> Documents { get; set; } = [];

    [Id(3)] public List<RegistrySnapshot> History { get; set; } = [];

    /// <summary>Per silo address: the feature types it reported at its start (entries of silos no longer active are dropped on the next report).</summary>
    [Id(4)] public Dictionary<string, SiloFeatureTypes> FeatureTypeReports { get; set; } = [];
}

/// <summary>Validates, plans and stores definition sets; see <see cref="IRegistryGrain"/>.</summary>
public sealed partial class RegistryGrain(
    [PersistentState("registry", FeatureStoreStorage.Name)] IPersistentState<RegistryState> state,
    ILogger<RegistryGrain> logger) : Grain, IRegistryGrain
{
    private const int HistoryLimit = 50;
    private DefinitionSet _current = DefinitionSet.Empty;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (state.State.Documents.Count > 0)
        {
            var loaded = DefinitionLoader.Load(DefinitionCheck.ToDocuments(state.State.Documents));
            if (loaded.Set is null)
            {
                LogStoredDefinitionsInvalid(logger, state.State.Version, string.Join("; ", loaded.Errors));
            }
            else
            {
                _current = loaded.Set;
            }
        }

        return Task.CompletedTask;
    }

    public async Task<RegistryApplyResult> Apply(List<DefinitionDocumentDto> documents, bool dryRun, long? expectedVersion = null)
    {
        if (expectedVersion is { } expected && expected != state.State.Version)
        {
            LogVersionConflict(logger, expected, state.State.Version);
            return DefinitionCheck.VersionConflict(state.State.Version);
        }

        var checkedResult = DefinitionCheck.Run(_current, state.State.Version, documents, out var proposed);
        if (proposed is not null && FeatureTypeCoverage.Uses(proposed))
        {
            var missing = FeatureTypeCoverage.Errors(proposed, await GetFeatureTypes());
            if (missing.Count > 0)
            {
                LogFeatureTypesMissing(logger, missing.Count, missing[0].Text);
                return checkedResult with { Errors = missing };
            }
        }

        if (proposed is null || dryRun || checkedResult.Rejections.Count > 0 || checkedResult.Changes.Count == 0)
        {
            return checkedResult;
        }

        if (state.State.Version > 0)
        {
            state.State.History.Add(new RegistrySnapshot(state.State.Version, state.State.AppliedAt, state.State.Documents));
            if (state.State.History.Count > HistoryLimit)
            {
                state.State.History.RemoveAt(0);
            }
        }

        state.State.Version++;
        state.State.AppliedAt = DateTimeOffset.UtcNow;
        state.State.Documents = [.. documents];
        await state.WriteStateAsync();
        _current = proposed;
        LogApplied(logger, state.State.Version, checkedResult.Changes.Count);
        return checkedResult with { Applied = true, Version = state.State.Version };
    }

    public Task<RegistrySnapshot> GetSnapshot() =>
        Task.FromResult(new RegistrySnapshot(state.State.Version, state.State.AppliedAt, state.State.Documents));

    public Task<long> GetVersion() => Task.FromResult(state.State.Version);

    public async Task ReportFeatureTypes(SiloFeatureTypes report)
    {
        var active = await ActiveSilos();
        foreach (var silo in state.State.FeatureTypeReports.Keys.Where(s => !active.Contains(s)).ToList())
        {
            state.State.FeatureTypeReports.Remove(silo);
        }

        state.State.FeatureTypeReports[report.Silo] = report with { Reported = true };
        await state.WriteStateAsync();
        LogFeatureTypesReported(logger, report.Name, report.Silo, report.Types.Count == 0 ? "none" : string.Join(", ", report.Types));
    }

    public async Task<List<SiloFeatureTypes>> GetFeatureTypes()
    {
        var silos = new List<SiloFeatureTypes>();
        var hosts = await GrainFactory.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true);
        foreach (var host in hosts.OrderBy(h => h.SiloAddress.ToParsableString(), StringComparer.Ordinal))
        {
            var address = host.SiloAddress.ToParsableString();
            silos.Add(state.State.FeatureTypeReports.TryGetValue(address, out var report) ? report : new SiloFeatureTypes(address, host.SiloName, [], Reported: false));
        }

        return silos;
    }

    private async Task<HashSet<string>> ActiveSilos()
    {
        var hosts = await GrainFactory.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        return [.. hosts.Keys.Select(h => h.ToParsableString())];
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Registry version {Version} applied with {Changes} changes")]
    private static partial void LogApplied(ILogger logger, long version, int changes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Registry apply refused: the caller expected version {Expected}, the registry is at {Current}")]
    private static partial void LogVersionConflict(ILogger logger, long expected, long current);

    [LoggerMessage(Level = LogLevel.Information, Message = "Silo {Name} ({Silo}) loaded feature types: {Types}")]
    private static partial void LogFeatureTypesReported(ILogger logger, string name, string silo, string types);

    [LoggerMessage(Level = LogLevel.Information, Message = "Registry apply refused: {Count} features name a feature type not loaded on every silo, first: {First}")]
    private static partial void LogFeatureTypesMissing(ILogger logger, int count, string first);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stored registry version {Version} no longer validates: {Errors}")]
    private static partial void LogStoredDefinitionsInvalid(ILogger logger, long version, string errors);
}
