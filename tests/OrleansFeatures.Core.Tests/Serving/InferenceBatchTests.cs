using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Serving;

namespace OrleansFeatures.Core.Tests.Serving;

public class InferenceBatchTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, item_id: string, seconds: double }
        feature_views:
          - name: user_plays
            source: plays
            features: [{ name: plays_1h, aggregation: count, window: 1h }]
          - name: item_plays
            entity: item
            source: plays
            key_field: item_id
            features: [{ name: seconds_24h, aggregation: sum, field: seconds, window: 24h }]
        feature_services:
          - name: ranker
            features: [item_plays:seconds_24h, user_plays:plays_1h, hour]
            request_fields: { hour: int64 }
        """;

    private static readonly InferencePlan Plan = Load();

    [Fact]
    public void Repeated_entities_are_read_once_and_rows_point_at_them()
    {
        var batch = Parse([new("user", ["u1"]), new("item", ["i1", "i2", "i1"])], [new("hour", [ScalarValue.FromInt64(1), ScalarValue.FromInt64(2), ScalarValue.FromInt64(3)])], out var error);

        Assert.Null(error);
        Assert.Equal(3, batch!.Rows);
        Assert.Equal(["i1", "i2"], batch.DistinctIds[0]);
        Assert.Equal([0, 1, 0], batch.RowEntities[0]);
        Assert.Equal(["u1"], batch.DistinctIds[1]);
    }

    [Fact]
    public void Duplicate_rows_are_refused_naming_both_rows()
    {
        Parse([new("user", ["u1"]), new("item", ["i1", "i2", "i1"])], [], out var error);

        var violation = Assert.Single(error!.Violations);
        Assert.Equal("entities", violation.Field);
        Assert.Contains("row 2 repeats row 0", violation.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("u1,u2", "i1,i2,i3", "entities[0].ids")]
    [InlineData("u1", "i1,", "entities[1].ids[1]")]
    public void A_bad_id_column_is_refused_with_its_path(string users, string items, string field)
    {
        Parse([new("user", users.Split(',')), new("item", items.Split(','))], [], out var error);

        Assert.Equal(RequestErrorKind.InvalidArgument, error!.Kind);
        Assert.Equal(field, Assert.Single(error.Violations).Field);
    }

    [Fact]
    public void A_request_value_of_the_wrong_type_is_refused_with_its_path()
    {
        Parse([new("user", ["u1"]), new("item", ["i1"])], [new("hour", [ScalarValue.FromString("nine")])], out var error);

        var violation = Assert.Single(error!.Violations);
        Assert.Equal("request_fields[0].values[0]", violation.Field);
        Assert.Contains("is string; request field 'hour' is int64", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void An_entity_type_the_service_does_not_read_is_refused()
    {
        Parse([new("user", ["u1"]), new("game", ["g1"])], [], out var error);

        Assert.Equal("entities[1].entity_type", Assert.Single(error!.Violations).Field);
    }

    private static InferenceBatch? Parse(EntityKeyColumn[] entities, RequestFieldColumn[] fields, out RequestError? error) =>
        InferenceBatch.Parse(Plan, entities, fields, maxRows: 10, maxKeyLength: 8, out error);

    private static InferencePlan Load()
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", Yaml), new DefinitionDocument("items.yaml", "entity: item\nkey: item_id\n")]);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return LookupPlan.Compile(result.Set!).FindInferencePlan("ranker")!;
    }
}
