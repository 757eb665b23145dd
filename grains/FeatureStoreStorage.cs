namespace OrleansFeatures.Grains;

/// <summary>Name of the grain storage provider the feature store's grains use (entity state and the registry).</summary>
public static class FeatureStoreStorage
{
    public const string Name = "featurestore";
}
