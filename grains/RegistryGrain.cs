using Microsoft.Extensions.Logging;
using Orleans;
using Orleans.Runtime;
using OrleansFeatures.Core.Definitions;
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
            var loaded = DefinitionLoader.Load(ToDocuments(state.State.Documents));
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

    public async Task<RegistryApplyResult> Apply(List<DefinitionDocumentDto> documents, bool dryRun)
    {
        var loaded = DefinitionLoader.Load(ToDocuments(documents));
        if (loaded.Set is null)
        {
            var errors = new List<DefinitionErrorDto>(loaded.Errors.Count);
            foreach (var error in loaded.Errors)
            {
                errors.Add(new DefinitionErrorDto(error.File, error.Line, error.Column, error.Field, error.Message, error.ToString()));
            }

            return new RegistryApplyResult(false, state.State.Version, errors, [], []);
        }

        var plan = DefinitionPlanner.Plan(_current, loaded.Set);
        var changes = new List<DefinitionChangeDto>(plan.Changes.Count);
        foreach (var change in plan.Changes)
        {
            changes.Add(new DefinitionChangeDto(
                change.Kind.ToString().ToLowerInvariant(), change.ObjectType, change.Name, change.Description, change.Breaking));
        }

        var rejections = new List<string>(plan.Rejections.Count);
        foreach (var rejection in plan.Rejections)
        {
            rejections.Add(rejection.ToString());
        }

        if (dryRun || !plan.IsAllowed || changes.Count == 0)
        {
            return new RegistryApplyResult(false, state.State.Version, [], changes, rejections);
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
        _current = loaded.Set;
        LogApplied(logger, state.State.Version, changes.Count);
        return new RegistryApplyResult(true, state.State.Version, [], changes, rejections);
    }

    public Task<RegistrySnapshot> GetSnapshot() =>
        Task.FromResult(new RegistrySnapshot(state.State.Version, state.State.AppliedAt, state.State.Documents));

    public Task<long> GetVersion() => Task.FromResult(state.State.Version);

    private static List<DefinitionDocument> ToDocuments(IReadOnlyList<DefinitionDocumentDto> documents)
    {
        var result = new List<DefinitionDocument>(documents.Count);
        foreach (var document in documents)
        {
            result.Add(new DefinitionDocument(document.Name, document.Yaml));
        }

        return result;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Registry version {Version} applied with {Changes} changes")]
    private static partial void LogApplied(ILogger logger, long version, int changes);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stored registry version {Version} no longer validates: {Errors}")]
    private static partial void LogStoredDefinitionsInvalid(ILogger logger, long version, string errors);
}
