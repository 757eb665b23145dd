using System.Text;
using OrleansFeatures.Core.Definitions;

namespace OrleansFeatures.Core.Tests.Definitions;

/// <summary>
/// Hostile documents and filters are refused with an error before the work they would cause: each of these
/// inputs overflowed the stack (and killed the process) before the limits existed.
/// </summary>
public class DefinitionLimitsTests
{
    private const string Header = """
        entity: user
        key: user_id
        sources:
          - name: clicks
            fields: { event_id: string, ts: int64, user_id: string, kind: string, amount: double }
        feature_views:
          - name: activity
            source: clicks
            features:

        """;

    [Fact]
    public void Deeply_nested_flow_mappings_are_refused_without_building_the_document()
    {
        // ~60,000 levels in 300 KB crashed YamlDotNet's recursive node loading.
        var yaml = new StringBuilder("a: ").Append('{', 60_000).Append('}', 60_000).ToString();

        var error = SingleError(yaml);

        Assert.Contains($"nested more than {DefinitionLimits.MaxNestingDepth} levels deep", error.Message, StringComparison.Ordinal);
        Assert.Equal("deep.yaml", error.File);
        Assert.Equal(1, error.Line);
    }

    [Fact]
    public void Deeply_nested_block_sequences_are_refused()
    {
        var yaml = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            yaml.Append(' ', i * 2).Append("- \n");
        }

        Assert.Contains("levels deep", SingleError(yaml.ToString()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nesting_up_to_the_limit_is_still_read_normally()
    {
        // Depth 64 is a limit on the document's shape, not on what the loader accepts: the loader reports the
        // unexpected value, not a limit.
        var depth = DefinitionLimits.MaxNestingDepth - 1;
        var yaml = "entity: " + new string('[', depth) + new string(']', depth);

        var error = SingleError(yaml);

        Assert.DoesNotContain("levels deep", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Documents_over_the_size_limit_are_refused_before_parsing()
    {
        var yaml = "# " + new string('x', DefinitionLimits.MaxDocumentCharacters);

        var error = SingleError(yaml);

        Assert.Contains($"the limit is {DefinitionLimits.MaxDocumentCharacters}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Documents_with_too_many_nodes_are_refused()
    {
        var yaml = "entity: [" + string.Join(", ", Enumerable.Repeat("x", DefinitionLimits.MaxNodesPerDocument)) + "]";

        Assert.Contains($"more than {DefinitionLimits.MaxNodesPerDocument} nodes", SingleError(yaml).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Aliases_count_as_the_nodes_they_repeat()
    {
        // A "billion laughs" document is small but names each lower level ten times.
        var yaml = new StringBuilder("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for (var i = 1; i < 9; i++)
        {
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture, $"a{i}: &a{i} [")
                .AppendJoin(", ", Enumerable.Repeat($"*a{i - 1}", 10)).Append("]\n");
        }

        Assert.Contains("nodes", SingleError(yaml.ToString()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Document_names_over_the_limit_are_refused_and_echoed_shortened()
    {
        var name = new string('n', 70_000) + ".yaml";

        var result = DefinitionLoader.Load([new DefinitionDocument(name, "entity: user\nkey: user_id\n")]);

        var error = Assert.Single(result.Errors);
        Assert.True(error.File.Length < 300, $"file is {error.File.Length} characters");
        Assert.Contains("70005 characters", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Names_over_the_limit_are_refused_and_every_message_stays_short()
    {
        var longName = new string('v', 100_000);
        var yaml = Header + $"      - {{ name: {longName}, latest: kind }}\n" + $"      - {{ {longName}: 1, name: x, latest: kind }}\n";

        var errors = Errors(yaml);

        Assert.Contains(errors, e => e.Message.Contains($"the limit is {DefinitionLimits.MaxNameLength}", StringComparison.Ordinal));
        Assert.All(errors, e => Assert.True(e.ToString().Length < 1_024, $"error of {e.ToString().Length} characters"));
    }

    [Fact]
    public void At_most_the_reported_number_of_errors_is_returned()
    {
        var yaml = Header + string.Concat(Enumerable.Range(0, 500).Select(i => $"      - {{ name: f{i}, aggregation: avg, window: 1h }}\n"));

        var errors = Errors(yaml);

        Assert.Equal(DefinitionLimits.MaxErrorsReported + 1, errors.Count);
        Assert.Contains("more errors", errors[^1].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_filter_of_fifty_thousand_nested_parentheses_is_a_filter_error()
    {
        var filter = new string('(', 50_000) + "kind == 'a'" + new string(')', 50_000);

        var error = SingleError(Header + $"      - {{ name: f, aggregation: count, window: 1h, where: \"{filter}\" }}\n");

        Assert.Contains("where", error.Field, StringComparison.Ordinal);
        Assert.True(error.ToString().Length < 1_024, $"error of {error.ToString().Length} characters");
    }

    [Fact]
    public void A_where_of_one_hundred_thousand_ors_is_a_filter_error()
    {
        var filter = string.Join(" or ", Enumerable.Repeat("kind == 'a'", 100_000));

        var error = SingleError(Header + $"      - {{ name: f, aggregation: count, window: 1h, where: \"{filter}\" }}\n");

        Assert.Contains("characters; the limit is", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Filters_deeper_than_the_limit_are_refused_with_the_position()
    {
        var depth = DefinitionLimits.MaxFilterDepth + 1;
        var text = new string('(', depth) + "a == 1" + new string(')', depth);

        var error = Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(text));

        Assert.Contains($"nested more than {DefinitionLimits.MaxFilterDepth} levels", error.Message, StringComparison.Ordinal);
        Assert.Equal(DefinitionLimits.MaxFilterDepth, error.Position);
    }

    [Fact]
    public void Filters_at_the_depth_limit_parse()
    {
        var depth = DefinitionLimits.MaxFilterDepth;
        var text = new string('(', depth) + "a == 1" + new string(')', depth);

        Assert.Equal("a == 1", FilterParser.Parse(text).ToString());
    }

    [Fact]
    public void Two_hundred_thousand_nots_are_refused_by_length_and_a_short_chain_by_depth()
    {
        var huge = string.Concat(Enumerable.Repeat("not ", 200_000)) + "a == 1";
        Assert.Contains("the limit is", Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(huge)).Message, StringComparison.Ordinal);

        var deep = string.Concat(Enumerable.Repeat("not ", DefinitionLimits.MaxFilterDepth + 1)) + "a == 1";
        Assert.Contains("levels", Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(deep)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Filters_with_more_terms_than_the_limit_are_refused_even_when_short_enough()
    {
        var text = string.Join(" or ", Enumerable.Repeat("a==1", DefinitionLimits.MaxFilterTerms + 1));
        Assert.True(text.Length <= DefinitionLimits.MaxFilterLength);

        var error = Assert.Throws<FilterSyntaxException>(() => FilterParser.Parse(text));

        Assert.Contains($"more than {DefinitionLimits.MaxFilterTerms} comparisons", error.Message, StringComparison.Ordinal);
        var atLimit = string.Join(" or ", Enumerable.Repeat("a==1", DefinitionLimits.MaxFilterTerms));
        Assert.NotNull(FilterParser.Parse(atLimit));
    }

    private static IReadOnlyList<DefinitionError> Errors(string yaml)
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("deep.yaml", yaml)]);
        Assert.False(result.Succeeded);
        return result.Errors;
    }

    private static DefinitionError SingleError(string yaml) => Assert.Single(Errors(yaml));
}

/// <summary>Random text as definition documents: every one loads to a result or definition errors, never an exception.</summary>
public class DefinitionLoaderFuzzTests
{
    [Theory]
    [InlineData("../../../../etc/passwd\0")]
    [InlineData("\u202E\uFEFF\u200Bname\uFFFF")]
    [InlineData("{0}{1}%s%n%x\"'\\`${}<script>")]
    [InlineData("user_plays:plays_1h:extra::::")]
    [InlineData("\u0001\u0002\u001F")]
    [InlineData("b\n\u001C, c]")]
    public void Text_in_an_unclosed_flow_sequence_is_a_definition_error(string text)
    {
        // "b\n\u001C" inside a flow sequence made YamlDotNet's scanner throw InvalidOperationException, not a
        // YamlException: the gateway answered UNKNOWN (found by HostileInputSuiteEndToEndTests).
        var result = DefinitionLoader.Load([new DefinitionDocument("fuzz.yaml", "entity: " + text + "\nkey: [" + text)]);
        Assert.NotEmpty(result.Errors);
    }

    [Fact]
    public void Random_bytes_and_control_characters_as_yaml_are_definition_errors_never_exceptions()
    {
        var random = new Random(20261201);
        for (var i = 0; i < 3_000; i++)
        {
            var bytes = new byte[random.Next(1, 400)];
            random.NextBytes(bytes);
            var yaml = random.Next(2) == 0
                ? System.Text.Encoding.UTF8.GetString(bytes)
                : string.Concat(bytes.Select(b => (char)(b % 40)));
            var result = DefinitionLoader.Load([new DefinitionDocument("fuzz.yaml", yaml)]);
            Assert.True(result.Set is not null || result.Errors.Count > 0, $"document {i}");
        }
    }
}
