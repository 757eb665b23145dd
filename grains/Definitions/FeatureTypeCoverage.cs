using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Definitions;

/// <summary>
/// Whether every active silo loaded the C# feature types a definition set names: the registry refuses an apply that
/// names a type some silo lacks, one error per feature naming each such silo, since that silo could not compile the
/// view (it would keep serving the previous registry version).
/// </summary>
public static class FeatureTypeCoverage
{
    /// <summary>True when some feature of <paramref name="set"/> is a C# feature type.</summary>
    public static bool Uses(DefinitionSet set) =>
        set.FeatureViews.Values.Any(v => v.Features.Any(f => f.Aggregation == AggregationKind.Plugin));

    public static List<DefinitionErrorDto> Errors(DefinitionSet set, IReadOnlyList<SiloFeatureTypes> silos)
    {
        var errors = new List<DefinitionErrorDto>();
        foreach (var view in set.FeatureViews.Values)
        {
            foreach (var feature in view.Features)
            {
                if (feature.Aggregation != AggregationKind.Plugin)
                {
                    continue;
                }

                var lacking = silos.Where(s => !s.Types.Contains(feature.FeatureType!, StringComparer.Ordinal)).ToList();
                if (lacking.Count == 0)
                {
                    continue;
                }

                var named = string.Join("; ", lacking.Select(s => $"{s.Name} ({s.Silo}, {(s.Reported ? $"loaded: {(s.Types.Count == 0 ? "none" : string.Join(", ", s.Types))}" : "has not reported its feature types yet")})"));
                var field = $"feature_views.{view.Name}.features.{feature.Name}.aggregation";
                var message = $"feature type '{feature.FeatureType}' is not loaded on every silo of the cluster: missing on {lacking.Count} of {silos.Count}: {named}";
                var at = feature.Location;
                errors.Add(new DefinitionErrorDto(at.File, at.Line, at.Column, field, message, $"{at} {field}: {message}"));
            }
        }

        return errors;
    }
}
