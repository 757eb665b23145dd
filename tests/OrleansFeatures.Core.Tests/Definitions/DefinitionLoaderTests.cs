using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Core.Tests.Definitions;

public class DefinitionLoaderTests
{
    private const string Valid = """
        entity: user
        key: user_id
        sources:
          - name: clicks
            fields: { event_id: string, ts: int64, user_id: string, kind: string, amount: double, flag: bool }
        feature_views:
          - name: activity
            source: clicks
            ttl: 7d
            features:
              - { name: last_kind, latest: kind }
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: amount_24h, aggregation: sum, field: amount, window: 24h, tile: 30m }
        feature_services:
          - name: scorer
            features: [activity:clicks_1h, activity:amount_24h]
            defaults: { "activity:clicks_1h": 0 }
        """;

    [Fact]
    public void Valid_definitions_load_with_defaults_filled_in()
    {
        var set = LoadOk(Valid);

        var view = set.FeatureViews["activity"];
        Assert.Equal(1, view.Version);
        Assert.Equal("user", view.EntityType);
        Assert.Equal("user_id", view.KeyField);
        Assert.Equal(TimeSpan.FromHours(1), view.AllowedLateness);
        Assert.Equal(TimeSpan.FromDays(7), view.Ttl);
        Assert.Equal("ts", view.Source.TimestampField);
        Assert.Equal(ScalarKind.String, view.Features[0].Type);
        Assert.Equal(ScalarKind.Int64, view.Features[1].Type);
        Assert.Equal(TimeSpan.FromMinutes(1), view.Features[1].Tile);
        Assert.Equal(TimeSpan.FromMinutes(30), view.Features[2].Tile);
        Assert.Equal("kind == 'click'", view.Features[1].Where!.ToString());
        var service = set.FeatureServices["scorer"];
        Assert.Equal(["user"], service.EntityTypes);
        Assert.True(service.IsSingleEntityType);
        Assert.Equal(ScalarValue.FromInt64(0), service.Defaults[new FeatureReference("activity", "clicks_1h")]);
    }

    [Fact]
    public void Example_definitions_load_without_errors()
    {
        var documents = Directory.GetFiles(RepositoryPaths.ExampleDefinitions, "*.yaml")
            .Select(path => new DefinitionDocument(Path.GetFileName(path), File.ReadAllText(path)))
            .ToList();

        var result = DefinitionLoader.Load(documents);

        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        Assert.Contains("ranker_v3", result.Set!.FeatureServices.Keys);
        Assert.Contains("live_win_probability_v1", result.Set.FeatureServices.Keys);
        Assert.Equal(["user", "content"], result.Set.FeatureServices["feed_ranker_v1"].EntityTypes);
    }

    [Fact]
    public void Unknown_aggregation_is_reported_with_file_line_and_field()
    {
        var error = SingleError(Valid.Replace("aggregation: sum", "aggregation: avg", StringComparison.Ordinal));

        Assert.Equal("defs.yaml", error.File);
        Assert.Equal(13, error.Line);
        Assert.Equal("feature_views[0].features[2].aggregation", error.Field);
        Assert.Contains("unknown aggregation 'avg'", error.Message, StringComparison.Ordinal);
        Assert.StartsWith("defs.yaml:13:", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void First_variance_stddev_and_count_distinct_load_with_their_served_types()
    {
        var yaml = Valid.Replace("      - { name: amount_24h", """
                  - { name: first_kind_1h, aggregation: first, field: kind, window: 1h }
                  - { name: first_amount_1h, aggregation: first, field: amount, window: 1h }
                  - { name: amount_var_1h, aggregation: variance, field: amount, window: 1h }
                  - { name: amount_sd_1h, aggregation: stddev, field: amount, window: 1h, tile: 5m }
                  - { name: kinds_24h, aggregation: count_distinct, field: kind, window: 24h }
                  - { name: flags_24h, type: int64, aggregation: count_distinct, field: flag, window: 24h }
                  - { name: amount_24h
            """.TrimEnd(), StringComparison.Ordinal);

        var view = LoadOk(yaml).FeatureViews["activity"];

        Assert.Equal(
            [(AggregationKind.First, ScalarKind.String), (AggregationKind.First, ScalarKind.Double), (AggregationKind.Variance, ScalarKind.Double),
             (AggregationKind.Stddev, ScalarKind.Double), (AggregationKind.CountDistinct, ScalarKind.Int64), (AggregationKind.CountDistinct, ScalarKind.Int64)],
            view.Features.Skip(2).Take(6).Select(f => (f.Aggregation, f.Type)));
        Assert.Equal(TimeSpan.FromMinutes(5), view.Features[5].Tile);
    }

    [Theory]
    [InlineData("aggregation: sum, field: amount, window: 24h", "aggregation: variance, field: kind, window: 24h", "feature_views[0].features[2].field", "variance needs a numeric field; 'kind' is string")]
    [InlineData("aggregation: sum, field: amount, window: 24h", "aggregation: stddev, window: 24h", "feature_views[0].features[2].field", "stddev needs a numeric field")]
    [InlineData("aggregation: sum, field: amount, window: 24h", "aggregation: first, window: 24h", "feature_views[0].features[2].field", "first needs a field")]
    [InlineData("aggregation: sum, field: amount, window: 24h", "aggregation: count_distinct, field: amount", "feature_views[0].features[2].window", "count_distinct needs a window")]
    [InlineData("aggregation: sum, field: amount, window: 24h", "aggregation: first, field: kind", "feature_views[0].features[2].window", "first needs a window")]
    [InlineData("aggregation: sum, field: amount, window: 24h", "type: double, aggregation: count_distinct, field: kind, window: 24h", "feature_views[0].features[2].type", "type double does not match the computed type int64")]
    [InlineData("aggregation: sum", "aggregation: distinct", "feature_views[0].features[2].aggregation", "expected one of latest, count, sum, mean, min, max, first, variance, stddev, count_distinct, last_n")]
    public void The_new_aggregations_report_what_they_need(string find, string replace, string field, string message)
    {
        Assert.Contains(find, Valid, StringComparison.Ordinal);

        var errors = Errors(Valid.Replace(find, replace, StringComparison.Ordinal));

        Assert.Contains(errors, e => e.Field == field && e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Last_n_loads_as_a_list_of_its_fields_type_with_its_n()
    {
        var yaml = Valid.Replace("      - { name: amount_24h", """
                  - { name: last_kinds_1h, aggregation: last_n, n: 10, field: kind, window: 1h }
                  - { name: last_amounts_1h, type: list<double>, aggregation: last_n, n: 1, field: amount, window: 1h }
                  - { name: last_flags_24h, aggregation: last_n, n: 1000, field: flag, window: 24h }
                  - { name: amount_24h
            """.TrimEnd(), StringComparison.Ordinal);

        var view = LoadOk(yaml).FeatureViews["activity"];

        Assert.Equal(
            [(ScalarKind.List, ScalarKind.String, 10), (ScalarKind.List, ScalarKind.Double, 1), (ScalarKind.List, ScalarKind.Bool, 1000)],
            view.Features.Skip(2).Take(3).Select(f => (f.Type, f.ElementType, f.LastN)));
        Assert.All(view.Features.Where(f => f.Aggregation != AggregationKind.LastN), f => Assert.Equal(0, f.LastN));
    }

    [Theory]
    [InlineData("aggregation: last_n, field: kind, window: 1h", "feature_views[0].features[2].n", "last_n needs n, how many values it keeps (1 to 1000), e.g. n: 10")]
    [InlineData("aggregation: last_n, n: 0, field: kind, window: 1h", "feature_views[0].features[2].n", "n 0 is out of range: last_n keeps 1 to 1000 values")]
    [InlineData("aggregation: last_n, n: 1001, field: kind, window: 1h", "feature_views[0].features[2].n", "n 1001 is out of range: last_n keeps 1 to 1000 values")]
    [InlineData("aggregation: last_n, n: ten, field: kind, window: 1h", "feature_views[0].features[2].n", "'ten' is not a whole number")]
    [InlineData("aggregation: sum, n: 3, field: amount, window: 1h", "feature_views[0].features[2].n", "n is the length of a last_n list; sum takes none")]
    [InlineData("aggregation: last_n, n: 3, window: 1h", "feature_views[0].features[2].field", "last_n needs a field")]
    [InlineData("aggregation: last_n, n: 3, field: colour, window: 1h", "feature_views[0].features[2].field", "field 'colour' is not a field of source 'clicks'")]
    [InlineData("aggregation: last_n, n: 3, field: kind", "feature_views[0].features[2].window", "last_n needs a window")]
    [InlineData("type: list<int64>, aggregation: last_n, n: 3, field: kind, window: 1h", "feature_views[0].features[2].type", "type list<int64> does not match the computed type list<string>")]
    [InlineData("type: string, aggregation: last_n, n: 3, field: kind, window: 1h", "feature_views[0].features[2].type", "type string does not match the computed type list<string>")]
    [InlineData("type: list<money>, aggregation: last_n, n: 3, field: kind, window: 1h", "feature_views[0].features[2].type", "unknown type 'list<money>'")]
    public void Last_n_reports_a_missing_or_out_of_range_n_and_a_wrong_field_or_type(string feature, string field, string message)
    {
        var errors = Errors(Valid.Replace("aggregation: sum, field: amount, window: 24h, tile: 30m", feature, StringComparison.Ordinal));

        Assert.Contains(errors, e => e.Field == field && e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("defaults: { \"activity:last_kinds\": x }", "'activity:last_kinds' is a last_n list, which takes no default: an empty window serves an empty list")]
    [InlineData("encodings: { \"activity:last_amounts\": { categories: [a] } }", "'activity:last_amounts' is list<double>; only string columns take an encoding, and list<string> ones")]
    [InlineData("derived: { twice: \"last_kinds * 2\" }", "'activity:last_kinds' is list; expressions read int64, double and bool columns")]
    public void A_service_refuses_a_default_a_non_string_encoding_or_an_expression_over_a_list(string line, string message)
    {
        var yaml = Valid.Replace("      - { name: amount_24h", """
                  - { name: last_kinds, aggregation: last_n, n: 5, field: kind, window: 1h }
                  - { name: last_amounts, aggregation: last_n, n: 5, field: amount, window: 1h }
                  - { name: amount_24h
            """.TrimEnd(), StringComparison.Ordinal)
            .Replace("\n    defaults: { \"activity:clicks_1h\": 0 }", "", StringComparison.Ordinal)
            .Replace("    features: [activity:clicks_1h, activity:amount_24h]", $"    features: [activity:clicks_1h, activity:amount_24h, activity:last_kinds, activity:last_amounts{(line.StartsWith("derived", StringComparison.Ordinal) ? ", twice" : "")}]\n    {line}", StringComparison.Ordinal);

        var errors = Errors(yaml);

        Assert.Contains(errors, e => e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void A_list_of_strings_takes_categories()
    {
        var yaml = Valid.Replace("      - { name: amount_24h", """
                  - { name: last_kinds, aggregation: last_n, n: 5, field: kind, window: 1h }
                  - { name: amount_24h
            """.TrimEnd(), StringComparison.Ordinal)
            .Replace("    features: [activity:clicks_1h, activity:amount_24h]", "    features: [activity:clicks_1h, activity:last_kinds]\n    encodings: { \"activity:last_kinds\": { categories: [click, view] } }", StringComparison.Ordinal);

        var column = LoadOk(yaml).FeatureServices["scorer"].Columns[1];

        Assert.Equal((ScalarKind.List, ScalarKind.String), (column.Type, column.ElementType));
        Assert.Equal(["click", "view"], column.Encoding!.Categories);
    }

    [Theory]
    [InlineData("window: 1h, where", "window: 1x, where", "feature_views[0].features[1].window", "bad duration '1x'")]
    [InlineData("window: 1h, where", "window: 0s, where", "feature_views[0].features[1].window", "bad duration '0s'")]
    [InlineData("tile: 30m", "tile: 7m", "feature_views[0].features[2].tile", "does not divide window 24h")]
    [InlineData("aggregation: count, window: 1h, ", "aggregation: count, ", "feature_views[0].features[1].window", "needs a window")]
    [InlineData("type: string, latest: kind }", "type: string, latest: kind, window: 1h }", "feature_views[0].features[0].window", "latest features have no window")]
    [InlineData("field: amount", "field: kind", "feature_views[0].features[2].field", "needs a numeric field")]
    [InlineData("field: amount", "field: money", "feature_views[0].features[2].field", "'money' is not a field of source 'clicks'")]
    [InlineData("where: \"kind == 'click'\"", "where: \"colour == 'red'\"", "feature_views[0].features[1].where", "field 'colour', which source 'clicks' does not have")]
    [InlineData("where: \"kind == 'click'\"", "where: \"kind == 3\"", "feature_views[0].features[1].where", "compares string field 'kind' with int64")]
    [InlineData("where: \"kind == 'click'\"", "where: \"kind == 'click' and\"", "feature_views[0].features[1].where", "expected a field name")]
    [InlineData("source: clicks", "source: taps", "feature_views[0].source", "source 'taps' is not defined")]
    [InlineData("ttl: 7d", "ttl: 7d\n    colour: red", "feature_views[0].colour", "unknown key 'colour'")]
    [InlineData("[activity:clicks_1h, activity:amount_24h]", "[activity:clicks_1h, activity:nope]", "feature_services[0].features[1]", "has no feature 'nope'")]
    [InlineData("[activity:clicks_1h, activity:amount_24h]", "[activity:clicks_1h, other:x]", "feature_services[0].features[1]", "feature view 'other' is not defined")]
    [InlineData("\"activity:clicks_1h\": 0", "\"activity:clicks_1h\": lots", "feature_services[0].defaults.activity:clicks_1h", "is not a int64")]
    [InlineData("name: amount_24h", "name: clicks_1h", "feature_views[0].features[2].name", "duplicate feature in view 'activity' 'clicks_1h'")]
    [InlineData("type: string, latest: kind", "type: double, latest: kind", "feature_views[0].features[0].type", "does not match")]
    [InlineData("fields: { event_id", "fields: { session: uuid, event_id", "sources[0].fields.session", "unknown type 'uuid'")]
    public void Each_invalid_definition_names_its_field(string find, string replace, string field, string message)
    {
        var yaml = Valid.Replace("{ name: last_kind, latest: kind }", "{ name: last_kind, type: string, latest: kind }", StringComparison.Ordinal);
        Assert.Contains(find, yaml, StringComparison.Ordinal);

        var errors = Errors(yaml.Replace(find, replace, StringComparison.Ordinal));

        Assert.Contains(errors, e => e.Field == field && e.Message.Contains(message, StringComparison.Ordinal) && e.Line > 0);
    }

    [Fact]
    public void A_services_errors_are_reported_with_the_errors_of_the_view_it_reads_not_after_them()
    {
        var yaml = Valid
            .Replace("field: amount, window: 24h", "field: nofield, window: 24h", StringComparison.Ordinal)
            .Replace("features: [activity:clicks_1h, activity:amount_24h]", "features: [activity:clicks_1h, activity:amount_24h, activity:missing]", StringComparison.Ordinal)
            .Replace("defaults: { \"activity:clicks_1h\": 0 }", "defaults: { \"activity:clicks_1h\": \"zero\" }", StringComparison.Ordinal);

        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", yaml)]);

        Assert.Contains(result.Errors, e => e.Field == "feature_views[0].features[2].field");
        Assert.Contains(result.Errors, e => e.Field == "feature_services[0].features[2]" && e.Message.Contains("has no feature 'missing'", StringComparison.Ordinal));
        Assert.Contains(result.Errors, e => e.Field.StartsWith("feature_services[0].defaults", StringComparison.Ordinal));
    }

    [Fact]
    public void Yaml_syntax_error_is_reported_with_its_line()
    {
        var error = SingleError("entity: user\nkey: [unclosed\n");

        Assert.Equal("defs.yaml", error.File);
        Assert.True(error.Line >= 2);
        Assert.Contains("YAML syntax error", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_view_across_files_names_both_places()
    {
        var other = """
            feature_views:
              - name: activity
                entity: user
                source: clicks
                features:
                  - { name: n, aggregation: count, window: 1h }
            """;

        var errors = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", Valid), new DefinitionDocument("more.yaml", other)]).Errors;

        var error = Assert.Single(errors);
        Assert.Equal("more.yaml", error.File);
        Assert.Contains("duplicate feature view 'activity' (first defined at defs.yaml:7", error.Message, StringComparison.Ordinal);
    }

    private const string Games = """
        entity: game
        key: game_id
        sources:
          - name: scores
            fields: { event_id: string, ts: int64, game_id: string, home: int64, status: string, live: bool }
        feature_views:
          - name: score
            source: scores
            features:
              - { name: home, latest: home }
              - { name: status, latest: status }
              - { name: live, latest: live }
        """;

    [Fact]
    public void Service_may_span_entity_types_and_request_fields_with_defaults_and_encodings()
    {
        var service = Games + """

            feature_services:
              - name: mixed
                features: [activity:clicks_1h, score:home, hour, score:status, activity:last_kind, score:live, device]
                request_fields: { hour: int64, device: string }
                defaults: { "activity:clicks_1h": 0, hour: 12, "score:status": "scheduled" }
                encodings:
                  "score:status": { categories: [scheduled, live, finished] }
                  device: { categories: [ios, android] }
            """;

        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", Valid), new DefinitionDocument("games.yaml", service)]);

        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        var mixed = result.Set!.FeatureServices["mixed"];
        Assert.Equal(["user", "game"], mixed.EntityTypes);
        Assert.False(mixed.IsSingleEntityType);
        Assert.Equal(["activity:clicks_1h", "score:home", "hour", "score:status", "activity:last_kind", "score:live", "device"], mixed.Columns.Select(c => c.Name));
        Assert.Equal([false, false, true, false, false, false, true], mixed.Columns.Select(c => c.IsRequestField));
        Assert.Equal(["user", "game", null, "game", "user", "game", null], mixed.Columns.Select(c => c.EntityType));
        Assert.Equal(ScalarKind.Int64, mixed.Columns[2].Type);
        Assert.Equal(ScalarValue.FromInt64(12), mixed.Columns[2].Default);
        Assert.Equal(ScalarValue.FromString("scheduled"), mixed.Columns[3].Default);
        Assert.Equal(["scheduled", "live", "finished"], mixed.Columns[3].Encoding!.Categories);
        Assert.Equal(1, mixed.Columns[3].Encoding!.IndexOf("live"));
        Assert.Equal(3, mixed.Columns[3].Encoding!.IndexOf("postponed"));
        Assert.Null(mixed.Columns[4].Encoding);
        Assert.Equal(["activity:clicks_1h", "score:home", "score:status", "activity:last_kind", "score:live"], mixed.Features.Select(f => f.ToString()));
        Assert.Equal(2, mixed.Defaults.Count);
    }

    [Theory]
    [InlineData("features: [score:home, hour]\n    request_fields: { hour: decimal }", "unknown type 'decimal'")]
    [InlineData("features: [score:home, minute]", "'minute' is neither a feature reference")]
    [InlineData("features: [score:home]\n    request_fields: { hour: int64 }", "request field 'hour' is not listed in features")]
    [InlineData("features: [score:home, hour, hour]\n    request_fields: { hour: int64 }", "'hour' is listed twice")]
    [InlineData("features: [score:home, hour]\n    request_fields: { hour: int64 }\n    defaults: { hour: noon }", "default 'noon' is not a int64")]
    [InlineData("features: [score:home]\n    encodings: { \"score:home\": { categories: [a] } }", "only string columns take an encoding")]
    [InlineData("features: [score:status]\n    encodings: { \"score:status\": { categories: [a, a] } }", "category 'a' is listed twice")]
    [InlineData("features: [score:status]\n    encodings: { \"score:status\": { categories: [] } }", "at least one value")]
    [InlineData("features: [score:status]\n    encodings: { \"score:status\": { values: [a] } }", "unknown key 'values'")]
    [InlineData("features: [score:status]\n    encodings: { \"score:away\": { categories: [a] } }", "encoding for 'score:away', which is not one of this service's features")]
    public void Bad_request_fields_and_encodings_are_reported(string body, string expected)
    {
        var games = Games + "\nfeature_services:\n  - name: bad\n    " + body + "\n";

        var errors = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", Valid), new DefinitionDocument("games.yaml", games)]).Errors;

        Assert.Contains(errors, e => e.File == "games.yaml" && e.ToString().Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Key_field_missing_from_the_source_is_rejected()
    {
        var errors = Errors(Valid.Replace("key: user_id", "key: member_id", StringComparison.Ordinal));

        Assert.Contains(errors, e => e.Message.Contains("key field 'member_id'", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_error_is_collected_not_just_the_first()
    {
        var broken = Valid
            .Replace("aggregation: sum", "aggregation: avg", StringComparison.Ordinal)
            .Replace("ttl: 7d", "ttl: forever", StringComparison.Ordinal)
            .Replace("kind == 'click'", "colour == 'red'", StringComparison.Ordinal);

        Assert.Equal(3, Errors(broken).Count);
    }

    private static DefinitionSet LoadOk(string yaml)
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", yaml)]);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Set!;
    }

    private static IReadOnlyList<DefinitionError> Errors(string yaml)
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", yaml)]);
        Assert.False(result.Succeeded, "expected errors");
        return result.Errors;
    }

    private static DefinitionError SingleError(string yaml) => Assert.Single(Errors(yaml));
}
