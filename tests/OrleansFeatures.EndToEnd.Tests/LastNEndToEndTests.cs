using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Apache.Arrow.Ipc;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using FloatArray = Apache.Arrow.FloatArray;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>last_n served by the real gateway: a list through gRPC lookups, HTTP/JSON, inference inputs, Arrow and the registry.</summary>
public sealed class LastNEndToEndTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: watches
            fields: { event_id: string, ts: int64, user_id: string, content_id: string, seconds: int64 }
        feature_views:
          - name: watch
            source: watches
            features:
              - { name: last_contents, aggregation: last_n, n: 3, field: content_id, window: 1h }
              - { name: last_seconds, type: list<int64>, aggregation: last_n, n: 2, field: seconds, window: 1h }
              - { name: watches_1h, aggregation: count, window: 1h }
        feature_services:
          - name: history_v1
            features: [watch:last_contents, watch:last_seconds, watch:watches_1h]
          - name: ranker_v1
            features: [watch:last_contents, watch:last_seconds]
            encodings: { "watch:last_contents": { categories: [c1, c2, c3, c4] } }
        """;

    [Fact]
    public async Task A_last_n_list_is_served_newest_first_by_lookups_http_json_inference_inputs_and_the_registry()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        var apply = new ApplyDefinitionsRequest();
        apply.Documents.Add(new DefinitionDocument { Name = "watch.yaml", Yaml = Yaml });
        var applied = await client.Registry.ApplyDefinitionsAsync(apply);
        Assert.True(applied.Applied, string.Join("\n", applied.Errors));

        // u1 watched c1 … c5, pushed out of order (c3 last, but dated between c2 and c4); u2 nothing.
        var now = DateTimeOffset.UtcNow;
        var push = new PushEventsRequest { Source = "watches" };
        foreach (var i in new[] { 1, 2, 4, 5, 3 })
        {
            push.Events.Add(Watch($"w{i}", "u1", $"c{i}", i * 10, now.AddMinutes(-10 + i)));
        }

        Assert.Equal(5, (await client.Ingestion.PushEventsAsync(push)).Accepted);

        var lookup = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "history_v1", EntityIds = { "u1", "u2" } };
        var answer = await client.Serving.GetOnlineFeaturesAsync(lookup);

        var u1 = answer.Entities[0].Values;
        Assert.Equal((Value.KindOneofCase.ListValue, FeatureStatus.Present), (u1[0].Value.KindCase, u1[0].Status));
        Assert.Equal(["c5", "c4", "c3"], u1[0].Value.ListValue.Values.Select(v => v.StringValue));
        Assert.Equal([50L, 40L], u1[1].Value.ListValue.Values.Select(v => v.Int64Value));
        Assert.Equal(Timestamp.FromDateTimeOffset(now.AddMinutes(-5)).Seconds, u1[0].EventTime.Seconds);
        Assert.Equal(5, u1[2].Value.Int64Value);
        Assert.Equal(FeatureStatus.NotFound, answer.Entities[1].Values[0].Status);

        // The same lookup over HTTP/1.1 JSON.
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        using var response = await http.PostAsync(new Uri("v1/features:lookup", UriKind.Relative), new StringContent(
            new JsonObject { ["entityType"] = "user", ["entityIds"] = new JsonArray("u1"), ["featureService"] = "history_v1" }.ToJsonString(),
            Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        var items = json["entities"]![0]!["values"]![0]!["value"]!["listValue"]!["values"]!.AsArray();
        Assert.Equal(["c5", "c4", "c3"], items.Select(v => (string?)v!["stringValue"]));

        // Inference inputs: the length by default; the newest item's category where an encoding is declared.
        var inputs = new GetInferenceInputsRequest { FeatureService = "history_v1" };
        inputs.Entities.Add(new EntityKeyColumn { EntityType = "user", Ids = { "u1", "u2" } });
        var matrix = await client.Serving.GetInferenceInputsAsync(inputs);
        Assert.Equal((V1.ValueType.StringList, ColumnEncoding.Length), (matrix.Columns[0].Dtype, matrix.Columns[0].Encoding));
        Assert.Equal((V1.ValueType.Int64List, ColumnEncoding.Length), (matrix.Columns[1].Dtype, matrix.Columns[1].Encoding));
        Assert.Equal([3f, 2f, 5f], Enumerable.Range(0, 3).Select(c => Cell(matrix, 0, c)));
        Assert.Equal(0, matrix.Mask[3]);

        var ranker = new GetInferenceInputsRequest { FeatureService = "ranker_v1", Format = InferenceFormat.Arrow };
        ranker.Entities.Add(new EntityKeyColumn { EntityType = "user", Ids = { "u1" } });
        var arrow = await client.Serving.GetInferenceInputsAsync(ranker);
        using (var reader = new ArrowStreamReader(new MemoryStream(arrow.ArrowIpc.ToByteArray())))
        {
            using var batch = reader.ReadNextRecordBatch();
            Assert.Equal(4f, Assert.IsType<FloatArray>(batch.Column(0)).GetValue(0)); // c5 is not listed: len(categories)
            Assert.Equal(2f, Assert.IsType<FloatArray>(batch.Column(1)).GetValue(0));
            var metadata = batch.Schema.GetFieldByIndex(0).Metadata;
            Assert.Equal(("list<string>", "categorical"), (metadata["dtype"], metadata["encoding"]));
            Assert.Equal("length", batch.Schema.GetFieldByIndex(1).Metadata["encoding"]);
        }

        var view = await client.Registry.GetFeatureViewAsync(new GetFeatureViewRequest { Name = "watch" });
        Assert.Equal((Aggregation.LastN, V1.ValueType.StringList, 3), (view.Features[0].Aggregation, view.Features[0].Type, view.Features[0].LastN));
        Assert.Equal((V1.ValueType.Int64List, 2), (view.Features[1].Type, view.Features[1].LastN));
        Assert.Equal(0, view.Features[2].LastN);
    }

    [Fact]
    public async Task A_last_n_without_n_is_refused_at_apply_naming_the_field()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        var apply = new ApplyDefinitionsRequest { ValidateOnly = true };
        apply.Documents.Add(new DefinitionDocument { Name = "watch.yaml", Yaml = Yaml.Replace("aggregation: last_n, n: 3,", "aggregation: last_n,", StringComparison.Ordinal) });

        var refused = await client.Registry.ApplyDefinitionsAsync(apply);

        Assert.False(refused.Applied);
        var error = Assert.Single(refused.Errors);
        Assert.Equal(("watch.yaml", "feature_views[0].features[0].n"), (error.File, error.Field));
        Assert.StartsWith("last_n needs n, how many values it keeps (1 to 1000)", error.Message, StringComparison.Ordinal);
    }

    private static float Cell(GetInferenceInputsResponse inputs, int row, int column) =>
        BinaryPrimitives.ReadSingleLittleEndian(inputs.Values.Span[(((row * inputs.ColumnCount) + column) * 4)..]);

    private static Event Watch(string id, string user, string content, long seconds, DateTimeOffset time)
    {
        var e = new Event { EventId = id, EventTime = Timestamp.FromDateTimeOffset(time) };
        e.Fields["user_id"] = new Value { StringValue = user };
        e.Fields["content_id"] = new Value { StringValue = content };
        e.Fields["seconds"] = new Value { Int64Value = seconds };
        return e;
    }
}
