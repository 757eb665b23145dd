using System.Buffers.Binary;
using Apache.Arrow.Ipc;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using FloatArray = Apache.Arrow.FloatArray;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>Derived columns (request-time features) served by the real gateway: lookups, inference inputs and the registry.</summary>
public sealed class DerivedColumnsEndToEndTests
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
        feature_services:
          - name: ctr_v1
            features: [popularity:clicks_1h, popularity:views_1h, ctr_1h, strict_ctr]
            derived:
              ctr_1h: "clicks_1h / max(views_1h, 1)"
              strict_ctr: "clicks_1h / views_1h"
            defaults: { "popularity:clicks_1h": 0, "popularity:views_1h": 0, strict_ctr: -1.0 }
          - name: ranker_v1
            features: [popularity:clicks_1h, hour, boosted_clicks]
            request_fields: { hour: int64 }
            defaults: { "popularity:clicks_1h": 0 }
            derived: { boosted_clicks: "if(hour >= 18, clicks_1h * 2, clicks_1h)" }
        """;

    [Fact]
    public async Task Lookups_and_inference_inputs_serve_the_derived_value_and_the_registry_describes_it()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        var apply = new ApplyDefinitionsRequest();
        apply.Documents.Add(new DefinitionDocument { Name = "content.yaml", Yaml = Yaml });
        var applied = await client.Registry.ApplyDefinitionsAsync(apply);
        Assert.True(applied.Applied, string.Join("\n", applied.Errors));

        // c1: 3 clicks of 12 views; c2: 2 clicks, no views; c3: nothing.
        var now = DateTimeOffset.UtcNow;
        var push = new PushEventsRequest { Source = "engagement" };
        var n = 0;
        foreach (var (content, kind, count) in new[] { ("c1", "view", 12), ("c1", "click", 3), ("c2", "click", 2) })
        {
            for (var i = 0; i < count; i++)
            {
                push.Events.Add(Engagement($"e{n++}", content, kind, now.AddMinutes(-10).AddSeconds(n)));
            }
        }

        Assert.Equal(17, (await client.Ingestion.PushEventsAsync(push)).Accepted);

        var lookup = new GetOnlineFeaturesRequest { EntityType = "content", FeatureService = "ctr_v1", EntityIds = { "c1", "c2", "c3" } };
        var answer = await client.Serving.GetOnlineFeaturesAsync(lookup);

        Assert.Equal(["popularity:clicks_1h", "popularity:views_1h", "ctr_1h", "strict_ctr"], answer.FeatureNames);
        var c1 = answer.Entities[0].Values;
        Assert.Equal((0.25, FeatureStatus.Present), (c1[2].Value.DoubleValue, c1[2].Status));
        Assert.Equal(c1[0].EventTime, c1[2].EventTime);
        Assert.Equal(0.25, c1[3].Value.DoubleValue);
        var c2 = answer.Entities[1].Values;
        Assert.Equal((2.0, FeatureStatus.Present), (c2[2].Value.DoubleValue, c2[2].Status));
        Assert.Equal((-1.0, FeatureStatus.Defaulted), (c2[3].Value.DoubleValue, c2[3].Status));
        var c3 = answer.Entities[2].Values;
        Assert.Equal((0.0, FeatureStatus.Present), (c3[2].Value.DoubleValue, c3[2].Status));
        Assert.Null(c3[2].EventTime);
        Assert.Equal(FeatureStatus.Defaulted, c3[3].Status);

        // The same service as a model input matrix, and as Arrow: the same values, mask 0 where the default served.
        var inputs = new GetInferenceInputsRequest { FeatureService = "ctr_v1" };
        inputs.Entities.Add(new EntityKeyColumn { EntityType = "content", Ids = { "c1", "c2", "c3" } });
        var matrix = await client.Serving.GetInferenceInputsAsync(inputs);
        Assert.Equal([0.25f, 2f, 0f], Enumerable.Range(0, 3).Select(r => Cell(matrix, r, 2)));
        Assert.Equal([0.25f, -1f, -1f], Enumerable.Range(0, 3).Select(r => Cell(matrix, r, 3)));
        Assert.Equal([1, 0, 0], Enumerable.Range(0, 3).Select(r => (int)matrix.Mask[(r * 4) + 3]));
        Assert.Equal((V1.ValueType.Double, ColumnEncoding.Number, "", 2), (matrix.Columns[3].Dtype, matrix.Columns[3].Encoding, matrix.Columns[3].EntityType, matrix.Columns[3].DefaultedRows));
        inputs.Format = InferenceFormat.Arrow;
        var arrow = await client.Serving.GetInferenceInputsAsync(inputs);
        using (var reader = new ArrowStreamReader(new MemoryStream(arrow.ArrowIpc.ToByteArray())))
        {
            using var batch = reader.ReadNextRecordBatch();
            var ctr = Assert.IsType<FloatArray>(batch.Column(2));
            Assert.Equal([0.25f, 2f, 0f], Enumerable.Range(0, 3).Select(r => ctr.GetValue(r)!.Value));
            var strict = Assert.IsType<FloatArray>(batch.Column(3));
            Assert.Equal([0.25f, null, null], Enumerable.Range(0, 3).Select(r => strict.GetValue(r)));
        }

        // A derived column over a request field: per row, from the row's hour.
        var ranker = new GetInferenceInputsRequest { FeatureService = "ranker_v1" };
        ranker.Entities.Add(new EntityKeyColumn { EntityType = "content", Ids = { "c1", "c1", "c2" } });
        ranker.RequestFields.Add(new RequestFieldColumn { Name = "hour", Values = { new Value { Int64Value = 9 }, new Value { Int64Value = 20 }, new Value() } });
        var ranked = await client.Serving.GetInferenceInputsAsync(ranker);
        Assert.Equal([3f, 6f, float.NaN], Enumerable.Range(0, 3).Select(r => Cell(ranked, r, 2)));
        Assert.Equal([1, 1, 0], Enumerable.Range(0, 3).Select(r => (int)ranked.Mask[(r * 3) + 2]));

        var info = await client.Registry.GetFeatureServiceAsync(new GetFeatureServiceRequest { Name = "ctr_v1" });
        Assert.Equal(["popularity:clicks_1h", "popularity:views_1h", "ctr_1h", "strict_ctr"], info.Features);
        Assert.Equal("clicks_1h / max(views_1h, 1)", info.Derived["ctr_1h"].Expression);
        Assert.Equal(V1.ValueType.Double, info.Derived["ctr_1h"].Type);
        Assert.Equal(["popularity:clicks_1h", "popularity:views_1h"], info.Derived["ctr_1h"].Inputs);
        Assert.Empty(info.RequestFields);
    }

    [Fact]
    public async Task A_bad_expression_is_refused_at_apply_with_its_position()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        var apply = new ApplyDefinitionsRequest { ValidateOnly = true };
        apply.Documents.Add(new DefinitionDocument { Name = "content.yaml", Yaml = Yaml.Replace("clicks_1h / views_1h", "clicks_1h / viewz_1h", StringComparison.Ordinal) });

        var refused = await client.Registry.ApplyDefinitionsAsync(apply);

        Assert.False(refused.Applied);
        var error = Assert.Single(refused.Errors);
        Assert.Equal(("content.yaml", "feature_services[0].derived.strict_ctr"), (error.File, error.Field));
        Assert.StartsWith("unknown name 'viewz_1h' (this service's features and request fields: popularity:clicks_1h, popularity:views_1h) at position 13", error.Message, StringComparison.Ordinal);
    }

    private static float Cell(GetInferenceInputsResponse inputs, int row, int column) =>
        BinaryPrimitives.ReadSingleLittleEndian(inputs.Values.Span[(((row * inputs.ColumnCount) + column) * 4)..]);

    private static Event Engagement(string id, string content, string kind, DateTimeOffset time)
    {
        var e = new Event { EventId = id, EventTime = Timestamp.FromDateTimeOffset(time) };
        e.Fields["content_id"] = new Value { StringValue = content };
        e.Fields["user_id"] = new Value { StringValue = "u" };
        e.Fields["kind"] = new Value { StringValue = kind };
        return e;
    }
}
