using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Serving;

namespace OrleansFeatures.Core.Tests.Serving;

public class InferenceMatrixTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, item_id: string, sport: string, seconds: double, premium: bool }
        feature_views:
          - name: user_plays
            source: plays
            features:
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: last_sport, latest: sport }
          - name: item_plays
            entity: item
            source: plays
            key_field: item_id
            features:
              - { name: seconds_24h, aggregation: sum, field: seconds, window: 24h }
              - { name: premium, latest: premium }
              - { name: last_sport, latest: sport }
        feature_services:
          - name: ranker
            features: [item_plays:seconds_24h, user_plays:plays_1h, hour, item_plays:premium, user_plays:last_sport, item_plays:last_sport]
            request_fields: { hour: int64 }
            defaults: { "user_plays:plays_1h": 0, "item_plays:seconds_24h": -1.5, "user_plays:last_sport": "tennis" }
            encodings:
              "user_plays:last_sport": { categories: [football, tennis] }
              "item_plays:last_sport": { categories: [football, tennis] }
          - name: raw_strings
            features: [user_plays:last_sport]
        """;

    private static readonly DefinitionSet Set = Load();

    [Fact]
    public void Plan_groups_features_by_entity_type_and_keeps_service_column_order()
    {
        var plan = InferencePlan.Compile(Set.FeatureServices["ranker"]);

        Assert.Equal(["item", "user"], plan.Entities.Select(e => e.EntityType));
        Assert.Equal(["item_plays:seconds_24h", "item_plays:premium", "item_plays:last_sport"], plan.Entities[0].Features.Select(f => f.ToString()));
        Assert.Equal([0, 3, 5], plan.Entities[0].Columns);
        Assert.Equal([1, 4], plan.Entities[1].Columns);
        Assert.Equal("hour", Assert.Single(plan.RequestFields).Name);
        Assert.Equal(2, plan.RequestFields[0].Column);
        Assert.Equal(
            [ColumnEncoding.Number, ColumnEncoding.Number, ColumnEncoding.Number, ColumnEncoding.Bool, ColumnEncoding.Categorical, ColumnEncoding.Categorical],
            plan.Columns.Select(c => c.Encoding));
        Assert.Equal(1f, plan.Columns[4].DefaultValue);
        Assert.True(float.IsNaN(plan.Columns[2].DefaultValue));
        Assert.Null(plan.UnservableReason);
    }

    [Fact]
    public void A_string_column_without_an_encoding_makes_the_service_unservable()
    {
        var plan = InferencePlan.Compile(Set.FeatureServices["raw_strings"]);

        Assert.Contains("user_plays:last_sport", plan.UnservableReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Matrix_is_row_major_in_service_order_with_defaults_mask_and_encodings()
    {
        var plan = InferencePlan.Compile(Set.FeatureServices["ranker"]);
        // Item slot: three distinct items (seconds_24h, premium, last_sport); rows name items 2, 0, 1.
        FeatureReading[] items =
        [
            Present(ScalarValue.FromDouble(10)), Present(ScalarValue.FromBool(true)), Present(ScalarValue.FromString("football")),
            Missing(ReadingStatus.Expired), Missing(ReadingStatus.NotFound), Present(ScalarValue.FromString("curling")),
            Present(ScalarValue.FromDouble(2.5)), Present(ScalarValue.FromBool(false)), Missing(ReadingStatus.NotFound),
        ];
        // User slot: one user for every row (plays_1h, last_sport).
        FeatureReading[] user = [Present(ScalarValue.FromInt64(7)), Missing(ReadingStatus.NotFound)];

        var matrix = InferenceMatrix.Build(plan, 3, [[2, 0, 1], [0]], [items, user], [[ScalarValue.FromInt64(9), ScalarValue.Null, ScalarValue.FromInt64(23)]]);

        Assert.Equal((3, 6), (matrix.Rows, matrix.Columns));
        Assert.Equal(3 * 6 * sizeof(float), matrix.Values.Length);
        float[][] expected =
        [
            [2.5f, 7f, 9f, 0f, 1f, float.NaN],
            [10f, 7f, float.NaN, 1f, 1f, 0f],
            [-1.5f, 7f, 23f, float.NaN, 1f, 2f],
        ];
        bool[][] present =
        [
            [true, true, true, true, false, false],
            [true, true, false, true, false, true],
            [false, true, true, false, false, true],
        ];
        for (var row = 0; row < 3; row++)
        {
            for (var column = 0; column < 6; column++)
            {
                Assert.Equal(expected[row][column], matrix[row, column]);
                Assert.Equal(present[row][column], matrix.IsPresent(row, column));
            }
        }

        // Defaults used: item seconds_24h once (row 2), user last_sport in all three rows; none for hour (no default).
        Assert.Equal([1, 0, 0, 0, 3, 0], matrix.DefaultedRows);
    }

    [Fact]
    public void Values_are_little_endian_float32()
    {
        var plan = InferencePlan.Compile(Set.FeatureServices["ranker"]);
        FeatureReading[] items = [Present(ScalarValue.FromDouble(1)), Present(ScalarValue.FromBool(true)), Present(ScalarValue.FromString("tennis"))];
        FeatureReading[] user = [Present(ScalarValue.FromInt64(3)), Present(ScalarValue.FromString("football"))];

        var matrix = InferenceMatrix.Build(plan, 1, [[0], [0]], [items, user], [[ScalarValue.FromInt64(5)]]);

        Assert.Equal(new byte[] { 0x00, 0x00, 0x80, 0x3F }, matrix.Values[..4]);
        Assert.Equal([1f, 3f, 5f, 1f, 0f, 1f], Enumerable.Range(0, 6).Select(c => matrix[0, c]));
    }

    private static FeatureReading Present(ScalarValue value) => new(value, ReadingStatus.Present, 1);

    private static FeatureReading Missing(ReadingStatus status) => new(ScalarValue.Null, status, 0);

    private static DefinitionSet Load()
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", Yaml), new DefinitionDocument("items.yaml", "entity: item\nkey: item_id\n")]);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Set!;
    }
}
