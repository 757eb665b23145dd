namespace OrleansFeatures.Grains.Serving;

/// <summary>How lookups read entities (<c>FeatureStore:Serving</c>).</summary>
public sealed class ServingOptions
{
    /// <summary>
    /// Read entities activated on this silo from memory (true, the default), or always through a grain call (false:
    /// the path before the local index, kept to measure the difference; docs/benchmarks.md, "Serving").
    /// </summary>
    public bool LocalReads { get; set; } = true;
}
