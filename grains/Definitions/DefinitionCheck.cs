using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Definitions;

/// <summary>
/// Validates and plans a proposed document set against the current one: the pure part of an apply. The registry
/// grain runs it before it writes; the gateway runs it for dry runs and to refuse invalid documents, so that work
/// never occupies the registry grain's turn.
/// </summary>
public static class DefinitionCheck
{
    /// <summary>The errors, or the plan, of <paramref name="documents"/> over <paramref name="current"/> (nothing applied).</summary>
    /// <param name="proposed">The validated set, or null when there were errors.</param>
    public static RegistryApplyResult Run(DefinitionSet current, long currentVersion, IReadOnlyList<DefinitionDocumentDto> documents, out DefinitionSet? proposed)
    {
        var loaded = DefinitionLoader.Load(ToDocuments(documents));
        proposed = loaded.Set;
        if (loaded.Set is null)
        {
            var errors = new List<DefinitionErrorDto>(loaded.Errors.Count);
            foreach (var error in loaded.Errors)
            {
                errors.Add(new DefinitionErrorDto(error.File, error.Line, error.Column, error.Field, error.Message, error.ToString()));
            }

            return new RegistryApplyResult(false, currentVersion, errors, [], []);
        }

        var plan = DefinitionPlanner.Plan(current, loaded.Set);
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

        return new RegistryApplyResult(false, currentVersion, [], changes, rejections);
    }

    /// <summary>A refusal because the caller based its documents on <paramref name="expectedVersion"/>, not the current version.</summary>
    public static RegistryApplyResult VersionConflict(long currentVersion) =>
        new(false, currentVersion, [], [], []) { VersionConflict = true };

    public static List<DefinitionDocument> ToDocuments(IReadOnlyList<DefinitionDocumentDto> documents)
    {
        var result = new List<DefinitionDocument>(documents.Count);
        foreach (var document in documents)
        {
            result.Add(new DefinitionDocument(document.Name, document.Yaml));
        }

        return result;
    }
}
