using OrleansFeatures.Sdk;
using OrleansFeatures.Sdk.Testing;

namespace FeatureTypeName.Tests;

public sealed class FeatureTypeNameFeatureTypeTests
{
    private static readonly FeatureTypeNameFeatureType Type = new();

    [Fact]
    public void Passes_the_conformance_kit() => FeatureTypeConformance.Check(Type);

    [Fact]
    public void Reads_what_it_computes()
    {
        var tile = Type.NewTile();
        Type.Apply(tile, FeatureValue.FromInt64(2), 1_000);
        Type.Apply(tile, FeatureValue.FromDouble(0.5), 2_000);

        Assert.Equal(FeatureValue.FromDouble(2.5), Type.Read(tile));
    }
}
