using System.Diagnostics;

namespace OrleansFeatures.Grains.Diagnostics;

/// <summary>The feature store's own spans (entity state writes), under the trace of the request or event that caused them.</summary>
public static class FeatureStoreTracing
{
    public const string SourceName = "OrleansFeatures";

    public static readonly ActivitySource Source = new(SourceName);
}
