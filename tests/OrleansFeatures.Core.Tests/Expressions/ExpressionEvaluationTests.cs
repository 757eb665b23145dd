using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Expressions;

namespace OrleansFeatures.Core.Tests.Expressions;

public class ExpressionEvaluationTests
{
    private static readonly ExpressionValue NotFound = ExpressionValue.Missing(expired: false);
    private static readonly ExpressionValue Expired = ExpressionValue.Missing(expired: true);

    [Fact]
    public void Click_through_rate_divides_as_double_with_a_guarded_divisor()
    {
        var ctr = ExpressionCheckTests.Compile("clicks / max(views, 1)");

        Assert.Equal(0.25, Evaluate(ctr, Int(5), Int(20)).AsDouble);
        Assert.Equal(5.0, Evaluate(ctr, Int(5), Int(0)).AsDouble);
    }

    [Fact]
    public void Division_by_zero_is_missing_never_nan_or_infinity()
    {
        var ratio = ExpressionCheckTests.Compile("clicks / views");

        var result = Evaluate(ratio, Int(5), Int(0));
        Assert.True(result.IsMissing);
        Assert.False(result.Expired);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("clicks / seconds"), Int(0), Double(0.0)).IsMissing);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("seconds / seconds"), Double(-0.0)).IsMissing);
    }

    [Fact]
    public void A_missing_input_makes_the_result_missing_and_says_whether_it_expired()
    {
        var sum = ExpressionCheckTests.Compile("clicks + views");

        Assert.True(Evaluate(sum, NotFound, Int(1)).IsMissing);
        Assert.True(Evaluate(sum, Int(1), Expired).Expired);
        Assert.False(Evaluate(sum, NotFound, Expired).Expired);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("clicks > 3 and premium"), Int(5), Expired).IsMissing);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("max(clicks, views)"), Int(5), NotFound).IsMissing);
    }

    [Fact]
    public void Coalesce_takes_the_first_value_present_and_if_only_evaluates_the_branch_taken()
    {
        var coalesce = ExpressionCheckTests.Compile("coalesce(clicks, views, 0)");
        Assert.Equal(7, Evaluate(coalesce, NotFound, Int(7)).AsInt64);
        Assert.Equal(0, Evaluate(coalesce, Expired, NotFound).AsInt64);

        var choose = ExpressionCheckTests.Compile("if(premium, clicks, seconds)");
        var taken = Evaluate(choose, Bool(true), Int(3), NotFound);
        Assert.Equal(ScalarKind.Double, taken.Kind);
        Assert.Equal(3.0, taken.AsDouble);
        Assert.True(Evaluate(choose, Bool(false), Int(3), NotFound).IsMissing);
        Assert.True(Evaluate(choose, NotFound, Int(3), Double(1)).IsMissing);
    }

    [Fact]
    public void Int64_overflow_is_missing_rather_than_wrapping()
    {
        Assert.True(Evaluate(ExpressionCheckTests.Compile("clicks + views"), Int(long.MaxValue), Int(1)).IsMissing);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("clicks - views"), Int(long.MinValue), Int(1)).IsMissing);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("clicks * views"), Int(long.MaxValue / 2), Int(3)).IsMissing);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("-clicks"), Int(long.MinValue)).IsMissing);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("abs(clicks)"), Int(long.MinValue)).IsMissing);
        Assert.Equal(long.MaxValue, Evaluate(ExpressionCheckTests.Compile("clicks + views"), Int(long.MaxValue - 1), Int(1)).AsInt64);
        Assert.Equal(-6, Evaluate(ExpressionCheckTests.Compile("clicks * views"), Int(-2), Int(3)).AsInt64);
    }

    [Fact]
    public void A_non_finite_input_or_result_is_missing()
    {
        Assert.True(ExpressionValue.FromDouble(double.NaN).IsMissing);
        Assert.True(ExpressionValue.From(ScalarValue.FromDouble(double.PositiveInfinity)).IsMissing);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("seconds * 10"), Double(double.NaN)).IsMissing);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("seconds * seconds"), Double(1e200)).IsMissing);
    }

    [Fact]
    public void Int64_comparisons_are_exact_beyond_double_precision()
    {
        var equal = ExpressionCheckTests.Compile("clicks == views");
        Assert.False(Evaluate(equal, Int(9_007_199_254_740_993), Int(9_007_199_254_740_992)).AsBool);
        Assert.True(Evaluate(ExpressionCheckTests.Compile("clicks < seconds"), Int(1), Double(1.5)).AsBool);
    }

    [Fact]
    public void Inputs_enter_as_served_a_default_is_a_value_and_an_expired_reading_is_missing()
    {
        var defaulted = ExpressionValue.From(ServedValue.Serve(new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0), ScalarValue.FromInt64(0)));
        var expired = ExpressionValue.From(ServedValue.Serve(new FeatureReading(ScalarValue.Null, ReadingStatus.Expired, 0), null));
        var present = ExpressionValue.From(ServedValue.Serve(new FeatureReading(ScalarValue.FromInt64(4), ReadingStatus.Present, 1234), null));

        Assert.Equal((ScalarKind.Int64, 0L, 0L), (defaulted.Kind, defaulted.AsInt64, defaulted.EventTimeMs));
        Assert.True(expired.IsMissing && expired.Expired);
        Assert.Equal((4L, 1234L), (present.AsInt64, present.EventTimeMs));
    }

    [Fact]
    public void A_derived_reading_carries_the_newest_event_time_of_its_present_inputs()
    {
        var column = new DerivedColumn(ExpressionCheckTests.Compile("clicks / max(views, 1)"), [0, 1]);

        var reading = column.Read([ExpressionValue.FromInt64(2) with { EventTimeMs = 100 }, ExpressionValue.FromInt64(4) with { EventTimeMs = 300 }]);
        Assert.Equal(new FeatureReading(ScalarValue.FromDouble(0.5), ReadingStatus.Present, 300), reading);

        Assert.Equal(ReadingStatus.Expired, column.Read([Expired, Int(1)]).Status);
        Assert.Equal(ReadingStatus.NotFound, column.Read([NotFound, Int(1)]).Status);
    }

    [Fact]
    public void Evaluating_a_row_allocates_nothing()
    {
        var ctr = ExpressionCheckTests.Compile("if(premium, coalesce(clicks, 0) / max(views, 1), abs(seconds - 1.5))");
        Span<ExpressionValue> inputs = [Bool(true), Int(3), Int(4), Double(2)];
        var sum = 0.0;
        sum += ctr.Evaluate(inputs).AsDouble;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            sum += ctr.Evaluate(inputs).AsDouble;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(1001 * 0.75, sum, 6);
    }

    private static ExpressionValue Evaluate(CompiledExpression expression, params ExpressionValue[] inputs) => expression.Evaluate(inputs);

    private static ExpressionValue Int(long value) => ExpressionValue.FromInt64(value);

    private static ExpressionValue Double(double value) => ExpressionValue.FromDouble(value);

    private static ExpressionValue Bool(bool value) => ExpressionValue.FromBool(value);
}
