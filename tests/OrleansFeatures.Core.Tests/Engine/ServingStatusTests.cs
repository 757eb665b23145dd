using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Tests.Engine;

/// <summary>The statuses a lookup and a push answer, exactly as the protos document them.</summary>
public class ServingStatusTests
{
    [Fact]
    public void Expired_value_is_served_without_an_event_time()
    {
        var served = ServedValue.Serve(new FeatureReading(ScalarValue.FromInt64(3), ReadingStatus.Expired, 1_700_000_000_000), null);

        Assert.Equal(ServedStatus.Expired, served.Status);
        Assert.True(served.Value.IsNull);
        Assert.Equal(0, served.EventTimeMs);
    }

    [Fact]
    public void Defaulted_value_is_served_without_an_event_time()
    {
        var served = ServedValue.Serve(new FeatureReading(ScalarValue.Null, ReadingStatus.Expired, 1_700_000_000_000), ScalarValue.FromInt64(0));

        Assert.Equal(ServedStatus.Defaulted, served.Status);
        Assert.Equal(ScalarValue.FromInt64(0), served.Value);
        Assert.Equal(0, served.EventTimeMs);
    }

    [Fact]
    public void Present_value_keeps_its_event_time()
    {
        var served = ServedValue.Serve(new FeatureReading(ScalarValue.FromInt64(3), ReadingStatus.Present, 1_700_000_000_000), ScalarValue.FromInt64(0));

        Assert.Equal(ServedStatus.Present, served.Status);
        Assert.Equal(1_700_000_000_000, served.EventTimeMs);
    }

    [Theory]
    [InlineData(new[] { ApplyOutcome.Accepted }, ApplyOutcome.Accepted)]
    [InlineData(new[] { ApplyOutcome.Duplicate, ApplyOutcome.Accepted }, ApplyOutcome.Accepted)]
    [InlineData(new[] { ApplyOutcome.Late, ApplyOutcome.Accepted }, ApplyOutcome.Accepted)]
    [InlineData(new[] { ApplyOutcome.Late, ApplyOutcome.Late }, ApplyOutcome.Late)]
    [InlineData(new[] { ApplyOutcome.Duplicate, ApplyOutcome.Duplicate }, ApplyOutcome.Duplicate)]
    [InlineData(new[] { ApplyOutcome.Duplicate, ApplyOutcome.Late }, ApplyOutcome.Duplicate)]
    [InlineData(new[] { ApplyOutcome.Late, ApplyOutcome.Duplicate }, ApplyOutcome.Duplicate)]
    public void An_event_is_accepted_by_any_view_late_only_in_every_view_and_otherwise_a_duplicate(ApplyOutcome[] views, ApplyOutcome expected)
    {
        var merge = default(ApplyOutcomeMerge);
        foreach (var outcome in views)
        {
            merge.Add(outcome);
        }

        Assert.True(merge.Reached);
        Assert.Equal(expected, merge.Result);
    }
}
