using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Expressions;

namespace OrleansFeatures.Core.Tests.Expressions;

public class ExpressionCheckTests
{
    // The columns a test expression may read, as a service's resolver would give them.
    private static readonly Dictionary<string, ScalarKind> Columns = new(StringComparer.Ordinal)
    {
        ["clicks"] = ScalarKind.Int64,
        ["views"] = ScalarKind.Int64,
        ["seconds"] = ScalarKind.Double,
        ["premium"] = ScalarKind.Bool,
        ["sport"] = ScalarKind.String,
        ["my-view:clicks"] = ScalarKind.Int64,
        ["v:f"] = ScalarKind.Double,
    };

    [Theory]
    [InlineData("clicks / max(views, 1)", ScalarKind.Double)]
    [InlineData("clicks + views * 2", ScalarKind.Int64)]
    [InlineData("clicks + seconds", ScalarKind.Double)]
    [InlineData("-clicks", ScalarKind.Int64)]
    [InlineData("abs(seconds - 3)", ScalarKind.Double)]
    [InlineData("min(clicks, views, 10)", ScalarKind.Int64)]
    [InlineData("max(clicks, 0.5)", ScalarKind.Double)]
    [InlineData("coalesce(clicks, 0)", ScalarKind.Int64)]
    [InlineData("coalesce(clicks, seconds)", ScalarKind.Double)]
    [InlineData("if(premium, clicks, 0)", ScalarKind.Int64)]
    [InlineData("if(views > 0 and not premium, seconds, 0)", ScalarKind.Double)]
    [InlineData("clicks >= 10 or premium == false", ScalarKind.Bool)]
    [InlineData("`my-view:clicks` * 2", ScalarKind.Int64)]
    [InlineData("v:f / 1.5e2", ScalarKind.Double)]
    public void Well_typed_expressions_check_with_their_type(string text, ScalarKind type)
    {
        Assert.Equal(type, Compile(text).Type);
    }

    [Fact]
    public void Inputs_are_listed_once_in_order_of_first_use()
    {
        Assert.Equal(["views", "clicks"], Compile("views + clicks * views - clicks").Inputs);
    }

    [Fact]
    public void Precedence_is_or_and_not_comparison_sum_product_unary()
    {
        Span<ExpressionValue> inputs = [ExpressionValue.FromInt64(2), ExpressionValue.FromInt64(3)];
        Assert.Equal(2 + (3 * 2), Compile("clicks + views * clicks").Evaluate(inputs).AsInt64);
        Assert.Equal(-2 * 3, Compile("-clicks * views").Evaluate(inputs).AsInt64);
        Assert.True(Compile("not clicks > views or clicks == 2 and views == 0").Evaluate(inputs).AsBool);
        Assert.Equal((2 + 3) * 2, Compile("(clicks + views) * clicks").Evaluate(inputs).AsInt64);
    }

    [Theory]
    [InlineData("clicks +", 9, "expected a number, a name, a function call or '(' but found 'end of expression'")]
    [InlineData("clicks views", 8, "unexpected 'views' (expected an operator or the end)")]
    [InlineData("(clicks", 8, "expected ')' but found 'end of expression'")]
    [InlineData("max(clicks views)", 12, "expected ',' or ')' to close max( but found 'views'")]
    [InlineData("clicks = 1", 8, "unexpected '=' (compare with ==)")]
    [InlineData("clicks % 2", 8, "unexpected character '%'")]
    [InlineData("clicks < views < 3", 16, "comparisons do not chain: '<' then '<' (combine them with and)")]
    [InlineData("clicks * 99999999999999999999", 10, "'99999999999999999999' does not fit in an int64 (write it with a decimal point to make it a double)")]
    [InlineData("`my-view:clicks", 1, "unterminated `quoted name`")]
    public void Syntax_errors_name_the_position_and_what_was_expected(string text, int position, string message)
    {
        var error = Assert.Throws<ExpressionException>(() => Compile(text));
        Assert.Equal(message, error.Message);
        Assert.Equal(position, error.Position + 1);
    }

    [Theory]
    [InlineData("clicks / likes", 10, "unknown name 'likes'")]
    [InlineData("sport == 1", 1, "'sport' is string; expressions read int64, double and bool columns")]
    [InlineData("premium + 1", 1, "the left operand of '+' must be a number (int64 or double), not bool")]
    [InlineData("clicks * premium", 10, "the right operand of '*' must be a number (int64 or double), not bool")]
    [InlineData("clicks / 0", 10, "division by the constant 0: every row would be missing")]
    [InlineData("clicks / 0.0", 10, "division by the constant 0: every row would be missing")]
    [InlineData("premium < true", 9, "'<' does not order bools; compare them with == or !=")]
    [InlineData("premium == 1", 9, "'==' compares bool with int64; compare two numbers or two bools")]
    [InlineData("clicks and premium", 1, "the left operand of 'and' must be bool, not int64")]
    [InlineData("not clicks", 5, "the operand of not must be bool, not int64")]
    [InlineData("-premium", 2, "unary '-' must be a number (int64 or double), not bool")]
    [InlineData("avg(clicks, views)", 1, "unknown function 'avg' (functions: abs, coalesce, if, max, min)")]
    [InlineData("max(clicks)", 1, "max takes at least 2 arguments, got 1")]
    [InlineData("abs(clicks, views)", 1, "abs takes 1 argument, got 2")]
    [InlineData("if(premium, clicks)", 1, "if takes 3 arguments, got 2")]
    [InlineData("if(clicks, 1, 0)", 4, "the condition of if (its first argument) must be bool, not int64")]
    [InlineData("if(premium, clicks, premium)", 21, "if: argument 3 is bool but argument 2 is int64; they must have one type")]
    [InlineData("coalesce(premium, 0)", 19, "coalesce: argument 2 is int64 but argument 1 is bool; they must have one type")]
    [InlineData("max(clicks, premium)", 13, "argument 2 of max must be a number (int64 or double), not bool")]
    [InlineData("1 + 2", 1, "the expression reads no column (a constant is not a feature)")]
    public void Type_and_name_errors_say_what_is_wrong_where(string text, int position, string message)
    {
        var error = Assert.Throws<ExpressionException>(() => Compile(text));
        Assert.Equal(message, error.Message);
        Assert.Equal(position, error.Position + 1);
    }

    [Fact]
    public void Expressions_beyond_the_limits_are_refused_before_they_are_walked()
    {
        var deep = new string('(', 40) + "clicks" + new string(')', 40);
        Assert.Contains("nested more than 32 levels", Assert.Throws<ExpressionException>(() => Compile(deep)).Message, StringComparison.Ordinal);

        var wide = string.Join(" + ", Enumerable.Repeat("clicks", 200));
        Assert.Contains("more than 256 terms", Assert.Throws<ExpressionException>(() => Compile(wide)).Message, StringComparison.Ordinal);

        var longText = "clicks" + new string(' ', 5000);
        Assert.Equal("the expression is 5006 characters; the limit is 4096", Assert.Throws<ExpressionException>(() => Compile(longText)).Message);
    }

    internal static CompiledExpression Compile(string text) => CompiledExpression.Compile(text, (name, position) =>
        Columns.TryGetValue(name, out var type) ? (name, type) : throw new ExpressionException($"unknown name '{name}'", position));
}
