using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Serving;

namespace OrleansFeatures.Core.Tests.Serving;

public class DerivedColumnServingTests
{
    private const string Yaml = """
        entity: content
        key: content_id
        sources:
          - name: engagement
            fields: { event_id: string, ts: int64, content_id: string, user_id: string, kind: string }
        feature_views:
          - name: popularity
            source: engagement
            features:
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: views_1h, aggregation: count, window: 1h, where: "kind == 'view'" }
          - name: user_clicks
            entity: user
            source: engagement
            key_field: user_id
            features:
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
        feature_services:
          - name: ctr_v1
            features: [popularity:views_1h, ctr_1h, popularity:clicks_1h, strict_ctr]
            derived:
              ctr_1h: "clicks_1h / max(views_1h, 1)"
              strict_ctr: "clicks_1h / views_1h"
            defaults: { "popularity:clicks_1h": 0, strict_ctr: -1.0 }
          - name: ranker
            features: [popularity:clicks_1h, user_clicks:clicks_1h, hour, affinity]
            request_fields: { hour: int64 }
            derived: { affinity: "if(hour < 12, user_clicks:clicks_1h * 2, popularity:clicks_1h)" }
        """;

    private static readonly DefinitionSet Set = Load();

    [Fact]
    public void A_lookup_reads_only_the_features_and_answers_derived_columns_in_service_order()
    {
        var columns = LookupPlan.Compile(Set).Resolve(new LookupRequest("content", ["a", "b"], null, "ctr_v1"), new LookupLimits(10, 10, 100), out var error)!;

        Assert.Null(error);
        Assert.Equal(["popularity:views_1h", "ctr_1h", "popularity:clicks_1h", "strict_ctr"], columns.Names);
        Assert.Equal(["views_1h", "clicks_1h"], columns.Features);
        Assert.Equal((4, 2, true), (columns.Count, columns.ReadWidth, columns.HasDerivedColumns));

        // Entity a: 3 clicks of 12 views at times 100 and 200. Entity b: no views yet, its clicks expired.
        FeatureReading[] read =
        [
            new(ScalarValue.FromInt64(12), ReadingStatus.Present, 100), new(ScalarValue.FromInt64(3), ReadingStatus.Present, 200),
            new(ScalarValue.Null, ReadingStatus.NotFound, 0), new(ScalarValue.Null, ReadingStatus.Expired, 0),
        ];
        var answered = new FeatureReading[8];
        columns.Derive(read, answered, 2);

        Assert.Equal(read[0], answered[0]);
        Assert.Equal(new FeatureReading(ScalarValue.FromDouble(0.25), ReadingStatus.Present, 200), answered[1]);
        Assert.Equal(read[1], answered[2]);
        Assert.Equal(new FeatureReading(ScalarValue.FromDouble(0.25), ReadingStatus.Present, 200), answered[3]);

        // b: the expired clicks enter as their default (0), but the views have none: max(views, 1) guards a zero, not
        // a missing value, so both ratios are missing; strict_ctr is then served its own default.
        Assert.Equal(new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0), answered[5]);
        Assert.Equal(ReadingStatus.Expired, answered[6].Status);
        Assert.Equal(ReadingStatus.NotFound, answered[7].Status);
        Assert.Equal(new ServedValue(ScalarValue.FromDouble(-1), ServedStatus.Defaulted, 0), ServedValue.Serve(answered[7], columns.Defaults[3]));
    }

    [Fact]
    public void An_inference_matrix_fills_derived_columns_from_features_of_several_entities_and_request_fields()
    {
        var plan = InferencePlan.Compile(Set.FeatureServices["ranker"]);
        Assert.Equal(-1, plan.Columns[3].EntitySlot);
        Assert.Equal(ColumnEncoding.Number, plan.Columns[3].Encoding);
        Assert.Equal("hour", Assert.Single(plan.RequestFields).Name);

        // Two content rows for one user; row 0 in the morning, row 1 in the evening, row 2 without an hour.
        FeatureReading[] contents = [new(ScalarValue.FromInt64(5), ReadingStatus.Present, 1), new(ScalarValue.FromInt64(8), ReadingStatus.Present, 1)];
        FeatureReading[] user = [new(ScalarValue.FromInt64(4), ReadingStatus.Present, 1)];
        var matrix = InferenceMatrix.Build(plan, 3, [[0, 1, 1], [0]], [contents, user], [[ScalarValue.FromInt64(9), ScalarValue.FromInt64(20), ScalarValue.Null]]);

        Assert.Equal(8f, matrix[0, 3]);
        Assert.Equal(8f, matrix[1, 3]);
        Assert.True(matrix.IsPresent(0, 3) && matrix.IsPresent(1, 3));
        Assert.True(float.IsNaN(matrix[2, 3]));
        Assert.False(matrix.IsPresent(2, 3));
        Assert.Equal(0, matrix.DefaultedRows[3]);
    }

    [Fact]
    public void An_inference_matrix_and_a_lookup_agree_on_a_derived_value_and_its_default()
    {
        var plan = InferencePlan.Compile(Set.FeatureServices["ctr_v1"]);
        var columns = LookupColumns.ForService(Set.FeatureServices["ctr_v1"]);
        FeatureReading[] read = [new(ScalarValue.FromInt64(0), ReadingStatus.Present, 5), new(ScalarValue.FromInt64(2), ReadingStatus.Present, 6)];

        var matrix = InferenceMatrix.Build(plan, 1, [[0]], [read], []);
        var answered = new FeatureReading[4];
        columns.Derive(read, answered, 1);

        Assert.Equal((float)answered[1].Value.AsDouble, matrix[0, 1]);
        Assert.Equal(2f, matrix[0, 1]);
        // strict_ctr divides by zero views: missing, so the column's default (-1) with mask 0, as the lookup's DEFAULTED.
        Assert.Equal(ServedStatus.Defaulted, ServedValue.Serve(answered[3], columns.Defaults[3]).Status);
        Assert.Equal(-1f, matrix[0, 3]);
        Assert.False(matrix.IsPresent(0, 3));
        Assert.Equal(1, matrix.DefaultedRows[3]);
    }

    private static DefinitionSet Load()
    {
        var result = DefinitionLoader.Load([new DefinitionDocument("defs.yaml", Yaml), new DefinitionDocument("users.yaml", "entity: user\nkey: user_id\n")]);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Set!;
    }
}
