using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Tests.Definitions;

public class DerivedColumnDefinitionTests
{
    private const string Views = """
        entity: content
        key: content_id
        sources:
          - name: engagement
            fields: { event_id: string, ts: int64, content_id: string, kind: string, seconds: double, live: bool }
        feature_views:
          - name: popularity
            source: engagement
            features:
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: views_1h, aggregation: count, window: 1h, where: "kind == 'view'" }
              - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }
              - { name: live, latest: live }
              - { name: last_kind, latest: kind }
          - name: other
            source: engagement
            features:
              - { name: views_1h, aggregation: count, window: 1h }
        """;

    [Fact]
    public void A_derived_column_is_typed_and_bound_to_the_columns_it_reads()
    {
        var set = Load("""
            feature_services:
              - name: ctr_v1
                features: [popularity:clicks_1h, popularity:views_1h, ctr_1h, popular]
                derived:
                  ctr_1h: "clicks_1h / max(popularity:views_1h, 1)"
                  popular: "views_1h >= 100 and not live"
                defaults: { ctr_1h: 0.0 }
            """.Replace("[popularity:clicks_1h, popularity:views_1h, ctr_1h, popular]", "[popularity:clicks_1h, popularity:views_1h, ctr_1h, popular, popularity:live]", StringComparison.Ordinal));

        var service = set.FeatureServices["ctr_v1"];
        var ctr = service.Columns[2];
        Assert.Equal(ScalarKind.Double, ctr.Type);
        Assert.Equal("clicks_1h / max(popularity:views_1h, 1)", ctr.Derived!.Expression.Text);
        Assert.Equal([0, 1], ctr.Derived.InputColumns);
        Assert.Equal(ScalarValue.FromDouble(0), ctr.Default);
        Assert.Equal(ScalarKind.Bool, service.Columns[3].Type);
        Assert.Equal([1, 4], service.Columns[3].Derived!.InputColumns);
        Assert.False(ctr.IsRequestField);
        Assert.True(service.IsSingleEntityType);
        Assert.True(service.HasDerivedColumns);
        Assert.Equal(["popularity:clicks_1h", "popularity:views_1h", "popularity:live"], service.Features.Select(f => f.ToString()));
    }

    [Fact]
    public void A_derived_column_over_a_request_field_makes_an_inference_only_service()
    {
        var set = Load("""
            feature_services:
              - name: ranker
                features: [popularity:seconds_1h, hour, late_night_seconds]
                request_fields: { hour: int64 }
                derived: { late_night_seconds: "if(hour >= 22, seconds_1h, 0)" }
            """);

        var service = set.FeatureServices["ranker"];
        Assert.Equal(ScalarKind.Double, service.Columns[2].Type);
        Assert.False(service.IsSingleEntityType);
        Assert.True(service.HasRequestFields);
    }

    [Theory]
    [InlineData("clicks_1h / likes", "unknown name 'likes' (this service's features and request fields: popularity:clicks_1h, popularity:views_1h) at position 13 of \"clicks_1h / likes\"")]
    [InlineData("popularity:seconds_1h * 2", "'popularity:seconds_1h' is not one of this service's columns; list it in features to read it at position 1 of \"popularity:seconds_1h * 2\"")]
    [InlineData("clicks_1h + true", "the right operand of '+' must be a number (int64 or double), not bool at position 13 of \"clicks_1h + true\"")]
    [InlineData("clicks_1h / 0", "division by the constant 0: every row would be missing at position 13 of \"clicks_1h / 0\"")]
    [InlineData("clicks_1h / (views_1h", "expected ')' but found 'end of expression' at position 22 of \"clicks_1h / (views_1h\"")]
    [InlineData("ctr * 2", "derived column 'ctr' reads itself at position 1 of \"ctr * 2\"")]
    public void A_bad_expression_is_reported_at_its_value_with_the_position_in_it(string expression, string message)
    {
        var error = Assert.Single(Errors($$"""
            feature_services:
              - name: s
                features: [popularity:clicks_1h, popularity:views_1h, ctr]
                derived: { ctr: "{{expression}}" }
            """));

        Assert.Equal("feature_services[0].derived.ctr", error.Field);
        Assert.Equal(message, error.Message);
        Assert.Equal(("services.yaml", 4), (error.File, error.Line));
    }

    [Fact]
    public void A_bare_feature_name_shared_by_two_listed_views_is_ambiguous()
    {
        var error = Assert.Single(Errors("""
            feature_services:
              - name: s
                features: [popularity:views_1h, other:views_1h, double_views]
                derived: { double_views: "views_1h * 2" }
            """));

        Assert.Equal("'views_1h' is ambiguous: popularity:views_1h, other:views_1h; write view:feature at position 1 of \"views_1h * 2\"", error.Message);
    }

    [Fact]
    public void String_columns_and_other_derived_columns_cannot_be_read()
    {
        var errors = Errors("""
            feature_services:
              - name: s
                features: [popularity:clicks_1h, popularity:last_kind, a, b]
                derived:
                  a: "last_kind == 1"
                  b: "a * 2"
            """);

        Assert.Equal(
            [
                "'popularity:last_kind' is string; expressions read int64, double and bool columns at position 1 of \"last_kind == 1\"",
                "'a' is a derived column; a derived column reads features and request fields, not other derived columns at position 1 of \"a * 2\"",
            ],
            errors.Select(e => e.Message));
    }

    [Fact]
    public void A_derived_column_must_be_listed_must_not_shadow_a_request_field_and_its_default_must_fit_its_type()
    {
        var errors = Errors("""
            feature_services:
              - name: s
                features: [popularity:clicks_1h, hour, ctr]
                request_fields: { hour: int64 }
                derived:
                  hour: "clicks_1h + 1"
                  ctr: "clicks_1h / 2"
                  unlisted: "clicks_1h * 2"
                defaults: { ctr: yes }
            """);

        Assert.Equal(
            [
                ("feature_services[0].derived.hour", "'hour' is both a request field and a derived column"),
                ("feature_services[0].derived.unlisted", "derived column 'unlisted' is not listed in features"),
                ("feature_services[0].defaults.ctr", "default 'yes' is not a double (the type of 'ctr')"),
            ],
            errors.Select(e => (e.Field, e.Message)));
    }

    [Fact]
    public void Changing_a_derived_expression_is_a_non_breaking_change_of_the_service()
    {
        var before = Load("""
            feature_services:
              - { name: s, features: [popularity:clicks_1h, x], derived: { x: "clicks_1h * 2" } }
            """);
        var after = Load("""
            feature_services:
              - { name: s, features: [popularity:clicks_1h, x], derived: { x: "clicks_1h * 3" } }
            """);

        var plan = DefinitionPlanner.Plan(before, after);
        var change = Assert.Single(plan.Changes);
        Assert.Equal(("s", false), (change.Name, change.Breaking));
        Assert.Empty(DefinitionPlanner.Plan(before, Load("""
            feature_services:
              - { name: s, features: [popularity:clicks_1h, x], derived: { x: "clicks_1h * 2" } }
            """)).Changes);
    }

    private static DefinitionSet Load(string services)
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("views.yaml", Views), new DefinitionDocument("services.yaml", services)]);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Set!;
    }

    private static IReadOnlyList<DefinitionError> Errors(string services)
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("views.yaml", Views), new DefinitionDocument("services.yaml", services)]);
        Assert.False(result.Succeeded);
        return result.Errors;
    }
}
