using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Tests;

public class ScalarValueTests
{
    [Fact]
    public void Values_of_different_kinds_are_not_equal()
    {
        Assert.NotEqual(ScalarValue.FromInt64(1), ScalarValue.FromDouble(1));
        Assert.Equal(ScalarValue.FromString("a"), ScalarValue.FromString("a"));
    }

    [Fact]
    public void Int64_and_double_both_read_as_numbers()
    {
        Assert.True(ScalarValue.FromInt64(3).TryGetNumber(out var a));
        Assert.True(ScalarValue.FromDouble(2.5).TryGetNumber(out var b));
        Assert.False(ScalarValue.FromString("3").TryGetNumber(out _));
        Assert.Equal(5.5, a + b);
    }

    [Theory]
    [InlineData("user_engagement:clicks_1h", true)]
    [InlineData("user_engagement:", false)]
    [InlineData(":clicks", false)]
    [InlineData("a:b:c", false)]
    [InlineData("", false)]
    public void Feature_reference_parses_view_colon_feature(string text, bool ok)
    {
        Assert.Equal(ok, FeatureReference.TryParse(text, out _));
    }
}
