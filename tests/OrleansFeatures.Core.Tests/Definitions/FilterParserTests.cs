using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Tests.Definitions;

public class FilterParserTests
{
    [Theory]
    [InlineData("kind == 'click'", "kind == 'click'")]
    [InlineData("a == 1 or b == 2 and c == 3", "(a == 1 or (b == 2 and c == 3))")]
    [InlineData("not a == 1 and b == 2", "(not a == 1 and b == 2)")]
    [InlineData("(a == 1 or b == 2) and c == 3", "((a == 1 or b == 2) and c == 3)")]
    [InlineData("kind in ('view','click')", "kind in ('view', 'click')")]
    [InlineData("name == 'it''s'", "name == 'it''s'")]
    [InlineData("x >= -2.5", "x >= -2.5")]
    public void Filters_parse_to_canonical_text_with_precedence(string text, string canonical)
    {
        Assert.Equal(canonical, FilterParser.Parse(text).ToString());
    }

    [Theory]
    [InlineData("kind ==", "expected a literal")]
    [InlineData("kind = 'x'", "unexpected character '='")]
    [InlineData("'x' == kind", "expected a field name")]
    [InlineData("kind == 'x", "unterminated string")]
    [InlineData("(kind == 'x'", "expected ')'")]
    [InlineData("kind == 'x' kind", "unexpected 'kind'")]
    public void Syntax_errors_say_what_was_expected(string text, string message)
    {
        var error = Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(text));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluation_compares_numbers_across_int_and_double_and_never_throws()
    {
        var filter = FilterParser.Parse("amount > 2 and kind in ('a', 'b') and not flag == true");
        var fields = new Dictionary<string, ScalarValue>
        {
            ["amount"] = ScalarValue.FromDouble(2.5),
            ["kind"] = ScalarValue.FromString("b"),
            ["flag"] = ScalarValue.FromBool(false),
        };

        Assert.True(filter.Evaluate(fields));
        fields["amount"] = ScalarValue.FromInt64(2);
        Assert.False(filter.Evaluate(fields));
        fields["amount"] = ScalarValue.FromString("lots");
        Assert.False(filter.Evaluate(fields));
        Assert.False(filter.Evaluate(new Dictionary<string, ScalarValue>()));
    }
}
