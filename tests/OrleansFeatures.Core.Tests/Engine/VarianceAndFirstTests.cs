using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using static OrleansFeatures.Core.Tests.Engine.TestViews;

namespace OrleansFeatures.Core.Tests.Engine;

/// <summary>variance and stddev (population, Welford per tile, Chan's merge across tiles) and first (windowed).</summary>
public class VarianceAndFirstTests
{
    private const long T0 = 1_800_000_000_000;

    [Fact]
    public void Variance_of_large_values_with_a_small_spread_keeps_its_precision_across_tiles()
    {
        // Sum-of-squares loses every digit here (1e18 squares, a spread of 36); Welford and Chan keep them.
        var view = View(
            Feature("var", AggregationKind.Variance, window: TimeSpan.FromMinutes(10), tile: TimeSpan.FromMinutes(1)),
            Feature("sd", AggregationKind.Stddev, window: TimeSpan.FromMinutes(10), tile: TimeSpan.FromMinutes(1)));
        var state = new FeatureViewState(view);
        double[] offsets = [4, 7, 13, 16];
        for (var i = 0; i < 400; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 1_000), amount: 1e9 + offsets[i % 4]));
        }

        var variance = state.Read(0, T0 + 399_000).Value.AsDouble;
        Assert.True(Math.Abs(variance - 22.5) < 1e-6, $"variance {variance}");
        Assert.True(Math.Abs(state.Read(1, T0 + 399_000).Value.AsDouble - Math.Sqrt(22.5)) < 1e-7);
    }

    [Fact]
    public void Variance_is_the_population_variance_so_one_value_reads_zero()
    {
        var view = View(Feature("var", AggregationKind.Variance), Feature("sd", AggregationKind.Stddev));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, amount: 3));
        Assert.Equal(new FeatureReading(ScalarValue.FromDouble(0), ReadingStatus.Present, T0), state.Read(0, T0));

        state.Apply(Event("b", T0 + 1, amount: 5));
        Assert.Equal(1.0, state.Read(0, T0 + 1).Value.AsDouble);
        Assert.Equal(1.0, state.Read(1, T0 + 1).Value.AsDouble);
    }

    [Fact]
    public void Numbers_at_the_admission_limit_never_make_a_variance_infinite()
    {
        var view = View(
            Feature("var", AggregationKind.Variance, window: TimeSpan.FromMinutes(10), tile: TimeSpan.FromMinutes(1)),
            Feature("sd", AggregationKind.Stddev, window: TimeSpan.FromMinutes(10), tile: TimeSpan.FromMinutes(1)));
        var state = new FeatureViewState(view);
        for (var i = 0; i < 10; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 60_000), amount: i % 2 == 0 ? EventLimits.MaxNumberMagnitude : -EventLimits.MaxNumberMagnitude));
        }

        var stddev = state.Read(1, T0 + 540_000).Value.AsDouble;
        Assert.True(Math.Abs(stddev - EventLimits.MaxNumberMagnitude) <= 1e-12 * EventLimits.MaxNumberMagnitude, $"stddev {stddev}");
        Assert.Equal(double.MaxValue, state.Read(0, T0 + 540_000).Value.AsDouble);
    }

    [Fact]
    public void Variance_of_an_empty_window_is_not_found()
    {
        var view = View(Feature("var", AggregationKind.Variance, window: TimeSpan.FromMinutes(5)));
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, amount: null));

        Assert.Equal(ReadingStatus.NotFound, state.Read(0, T0).Status);
    }

    [Fact]
    public void First_is_the_value_of_the_windows_earliest_event_whatever_the_arrival_order()
    {
        var view = View(TimeSpan.FromHours(1), null, 1, Feature("first", AggregationKind.First, field: "tag", window: TimeSpan.FromMinutes(10), tile: TimeSpan.FromMinutes(1)));
        var state = new FeatureViewState(view);
        state.Apply(Event("c", T0 + 300_000, tag: "third"));
        state.Apply(Event("a", T0 + 60_500, tag: "first"));
        state.Apply(Event("b", T0 + 60_500, tag: "tie, applied later"));
        state.Apply(Event("d", T0 + 120_000, tag: null));

        Assert.Equal(new FeatureReading(ScalarValue.FromString("first"), ReadingStatus.Present, T0 + 300_000), state.Read(0, T0 + 300_000));
        // Once the first minute leaves the window, the next earliest event's value is first.
        Assert.Equal(ScalarValue.FromString("third"), state.Read(0, T0 + 660_000).Value);
        Assert.Equal(ReadingStatus.NotFound, state.Read(0, T0 + 960_000).Status);
    }

    [Fact]
    public void First_and_count_distinct_of_one_field_share_one_tile_list_and_numbers_stay_apart()
    {
        var view = View(
            Feature("first", AggregationKind.First, field: "tag"),
            Feature("distinct", AggregationKind.CountDistinct, field: "tag"),
            Feature("sum", AggregationKind.Sum),
            Feature("var", AggregationKind.Variance));

        Assert.Equal(2, view.Layout.Groups.Length);
        Assert.Equal(view.Layout.Slots[0], view.Layout.Slots[1]);
        Assert.Equal(view.Layout.Slots[2], view.Layout.Slots[3]);
    }
}
