using OrleansFeatures.Sdk;
using OrleansFeatures.Sdk.Testing;

namespace SportsMedia.FeatureTypes.Tests;

public sealed class MomentumFeatureTypeTests
{
    private static readonly MomentumFeatureType Momentum = new();

    [Fact]
    public void Momentum_passes_the_conformance_kit() =>
        FeatureTypeConformance.Check(Momentum, new ConformanceOptions { Values = random => FeatureValue.FromInt64(random.Next(-3, 4)) });

    [Fact]
    public void Momentum_weighs_the_newest_point_events_most_and_forgets_beyond_the_last_ten()
    {
        var tile = Momentum.NewTile();
        for (var i = 0; i < 12; i++)
        {
            // Two away points first (forgotten: beyond the last ten), then ten home points, the newest arriving first.
            Momentum.Apply(tile, FeatureValue.FromInt64(i < 2 ? -1 : 1), i < 2 ? i : 13 - i);
        }

        var expected = Enumerable.Range(0, 10).Sum(k => Math.Pow(MomentumFeatureType.Decay, k));
        Assert.Equal(expected, Momentum.Read(tile).AsDouble, 12);
    }

    [Fact]
    public void An_empty_window_has_no_momentum() => Assert.True(Momentum.Read(Momentum.NewTile()).IsMissing);
}
