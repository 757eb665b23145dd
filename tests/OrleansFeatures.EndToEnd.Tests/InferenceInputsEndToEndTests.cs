using System.Buffers.Binary;
using System.Globalization;
using Apache.Arrow.Ipc;
using Google.Protobuf;
using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using FloatArray = Apache.Arrow.FloatArray;
using Schema = Apache.Arrow.Schema;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>GetInferenceInputs against the real gateway, checked cell by cell against plain lookups of the same entities.</summary>
public sealed class InferenceInputsEndToEndTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: views
            fields: { event_id: string, ts: int64, user_id: string, item_id: string, sport: string, seconds: double, premium: bool }
        feature_views:
          - name: user_views
            source: views
            ttl: 7d
            features:
              - { name: views_1h, aggregation: count, window: 1h }
              - { name: last_sport, latest: sport }
          - name: item_views
            entity: item
            source: views
            key_field: item_id
            ttl: 30m
            features:
              - { name: seconds_24h, aggregation: sum, field: seconds, window: 24h }
              - { name: premium, latest: premium }
              - { name: sport, latest: sport }
              - { name: mean_seconds_1h, aggregation: mean, field: seconds, window: 1h }
        feature_services:
          - name: feed_ranker
            features: [item_views:seconds_24h, user_views:views_1h, hour, item_views:premium, item_views:sport, user_views:last_sport, item_views:mean_seconds_1h]
            request_fields: { hour: int64 }
            defaults: { "item_views:seconds_24h": -1, "user_views:views_1h": 0, "item_views:sport": "other" }
            encodings:
              "item_views:sport": { categories: [football, tennis, f1] }
              "user_views:last_sport": { categories: [football, tennis, f1] }
          - name: raw_sport
            features: [user_views:last_sport]
        """;

    private static readonly string[] ItemFeatures = ["item_views:seconds_24h", "item_views:premium", "item_views:sport", "item_views:mean_seconds_1h"];
    private static readonly string[] UserFeatures = ["user_views:views_1h", "user_views:last_sport"];

    [Fact]
    public async Task Inference_inputs_match_plain_lookups_of_the_same_entities()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(Apply());
        var now = DateTimeOffset.UtcNow;
        var push = new PushEventsRequest { Source = "views" };
        push.Events.Add(View("e1", "u1", "i1", now.AddMinutes(-10), "tennis", 30, premium: true));
        push.Events.Add(View("e2", "u1", "i2", now.AddMinutes(-5), "f1", 10, premium: false));
        push.Events.Add(View("e3", "u2", "i1", now.AddMinutes(-3), "curling", 20, premium: true));
        push.Events.Add(View("e4", "u2", "i3", now.AddMinutes(-50), "football", 5, premium: false));
        var pushed = await client.Ingestion.PushEventsAsync(push);
        Assert.Equal(4, pushed.Accepted);

        // One user for every row; items in request order, i1 twice (read once), one never seen, one expired (i3: TTL 30m).
        string[] items = ["i2", "i1", "nobody", "i3"];
        var request = new GetInferenceInputsRequest { FeatureService = "feed_ranker" };
        request.Entities.Add(new EntityKeyColumn { EntityType = "item", Ids = { items } });
        request.Entities.Add(new EntityKeyColumn { EntityType = "user", Ids = { "u1" } });
        request.RequestFields.Add(new RequestFieldColumn { Name = "hour", Values = { new Value { Int64Value = 9 }, new Value(), new Value { Int64Value = 23 }, new Value { Int64Value = 1 } } });
        var inputs = await client.Serving.GetInferenceInputsAsync(request);

        var itemLookup = await Lookup(client, "item", items, ItemFeatures);
        var userLookup = await Lookup(client, "user", ["u1"], UserFeatures);
        Assert.Equal((4, 7), (inputs.RowCount, inputs.ColumnCount));
        Assert.Equal(4 * 7 * 4, inputs.Values.Length);
        Assert.Equal(4 * 7, inputs.Mask.Length);
        Assert.Equal(["item_views:seconds_24h", "user_views:views_1h", "hour", "item_views:premium", "item_views:sport", "user_views:last_sport", "item_views:mean_seconds_1h"], inputs.Columns.Select(c => c.Name));
        Assert.Equal(
            [V1.ValueType.Double, V1.ValueType.Int64, V1.ValueType.Int64, V1.ValueType.Bool, V1.ValueType.String, V1.ValueType.String, V1.ValueType.Double],
            inputs.Columns.Select(c => c.Dtype));
        Assert.Equal(["item", "user", "", "item", "item", "user", "item"], inputs.Columns.Select(c => c.EntityType));
        Assert.Equal(ColumnEncoding.Categorical, inputs.Columns[4].Encoding);
        Assert.Equal(["football", "tennis", "f1"], inputs.Columns[4].Categories);
        Assert.Equal(ColumnEncoding.Bool, inputs.Columns[3].Encoding);
        Assert.Equal(ColumnEncoding.Number, inputs.Columns[0].Encoding);
        Assert.Equal(Value.KindOneofCase.StringValue, inputs.Columns[4].DefaultValue.KindCase);
        Assert.Equal(3f, inputs.Columns[4].EncodedDefault);
        Assert.Null(inputs.Columns[2].DefaultValue);
        Assert.True(float.IsNaN(inputs.Columns[2].EncodedDefault));
        Assert.InRange(inputs.EvaluatedAt.ToDateTimeOffset(), now.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));
        string[] categories = ["football", "tennis", "f1"];

        // The same request answered as an Arrow record batch: read back with Apache.Arrow's reader, it is the same
        // matrix and mask, and both agree with the plain lookups below.
        request.Format = InferenceFormat.Arrow;
        var arrow = await client.Serving.GetInferenceInputsAsync(request);
        Assert.True(arrow.Values.IsEmpty && arrow.Mask.IsEmpty);
        Assert.Equal(inputs.Columns, arrow.Columns);
        var fromArrow = ReadArrow(arrow, out var schema);
        Assert.Equal(inputs.Values, fromArrow.Values);
        Assert.Equal(inputs.Mask, fromArrow.Mask);
        Assert.Equal(inputs.Columns.Select(c => c.Name), schema.FieldsList.Select(f => f.Name));
        Assert.All(schema.FieldsList, f => Assert.True(f.IsNullable && f.DataType is Apache.Arrow.Types.FloatType));
        Assert.Equal(["double", "int64", "int64", "bool", "string", "string", "double"], schema.FieldsList.Select(f => f.Metadata["dtype"]));
        Assert.Equal(["number", "number", "number", "bool", "categorical", "categorical", "number"], schema.FieldsList.Select(f => f.Metadata["encoding"]));
        Assert.Equal(["item", "user", "", "item", "item", "user", "item"], schema.FieldsList.Select(f => f.Metadata["entity_type"]));
        Assert.Equal("""["football","tennis","f1"]""", schema.FieldsList[4].Metadata["categories"]);
        Assert.Equal(["-1", "0", null, null, "3", null, null], schema.FieldsList.Select(f => f.Metadata.GetValueOrDefault("default_value")));
        Assert.Equal("feed_ranker", schema.Metadata["feature_service"]);
        Assert.Equal(arrow.RegistryVersion.ToString(CultureInfo.InvariantCulture), schema.Metadata["registry_version"]);
        Assert.Equal(arrow.EvaluatedAt.ToDateTimeOffset(), DateTimeOffset.Parse(schema.Metadata["evaluated_at"], CultureInfo.InvariantCulture));

        foreach (var matrix in new[] { inputs, fromArrow })
        {
            for (var row = 0; row < items.Length; row++)
            {
                var item = itemLookup.Entities[row].Values;
                var user = userLookup.Entities[0].Values;
                AssertCell(matrix, row, 0, item[0], v => (float)v.DoubleValue, -1f);
                AssertCell(matrix, row, 1, user[0], v => v.Int64Value, 0f);
                AssertCell(matrix, row, 3, item[1], v => v.BoolValue ? 1f : 0f, float.NaN);
                AssertCell(matrix, row, 4, item[2], v => Category(categories, v.StringValue), 3f);
                AssertCell(matrix, row, 5, user[1], v => Category(categories, v.StringValue), float.NaN);
                AssertCell(matrix, row, 6, item[3], v => (float)v.DoubleValue, float.NaN);
            }
        }

        // Spot checks of what the lookups said: i1's newest sport is curling (not a category: index 3), i3 expired, hour sent or not.
        Assert.Equal(50f, Cell(inputs, 1, 0));
        Assert.Equal(3f, Cell(inputs, 1, 4));
        Assert.Equal(FeatureStatus.Expired, itemLookup.Entities[3].Values[0].Status);
        Assert.Equal(-1f, Cell(inputs, 3, 0));
        Assert.Equal(0, inputs.Mask[(3 * 7) + 0]);
        Assert.Equal([9f, float.NaN, 23f, 1f], Enumerable.Range(0, 4).Select(r => Cell(inputs, r, 2)));
        Assert.Equal([1, 0, 1, 1], Enumerable.Range(0, 4).Select(r => (int)inputs.Mask[(r * 7) + 2]));
        Assert.Equal(2, inputs.Columns[0].DefaultedRows);
        Assert.Equal(2, Cell(inputs, 0, 1));
    }

    [Fact]
    public async Task Invalid_inference_requests_get_precise_statuses()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, "--FeatureStore:Limits:MaxEntitiesPerRequest=5");
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(Apply());

        await AssertStatus(StatusCode.NotFound, "feature_service 'nope'", Request("nope", ("user", ["u1"]), ("item", ["i1"])));
        await AssertStatus(StatusCode.InvalidArgument, "feature_service: is required", Request("", ("user", ["u1"])));
        var badFormat = Request("feed_ranker", ("user", ["u1"]), ("item", ["i1"]));
        badFormat.Format = (InferenceFormat)7;
        await AssertStatus(StatusCode.InvalidArgument, "format: 7 is not an InferenceFormat", badFormat);
        await AssertStatus(StatusCode.InvalidArgument, "at least one row", Request("feed_ranker", ("user", []), ("item", [])));
        await AssertStatus(StatusCode.InvalidArgument, "limit is 5", Request("feed_ranker", ("user", ["u1"]), ("item", ["1", "2", "3", "4", "5", "6"])));
        await AssertStatus(StatusCode.InvalidArgument, "row 2 repeats row 0", Request("feed_ranker", ("user", ["u1"]), ("item", ["i1", "i2", "i1"])));
        await AssertStatus(StatusCode.InvalidArgument, "entities[1].entity_type: 'game' is not read", Request("feed_ranker", ("user", ["u1"]), ("game", ["g1"])));
        await AssertStatus(StatusCode.InvalidArgument, "reads entity type 'item', and no column", Request("feed_ranker", ("user", ["u1"])));
        await AssertStatus(StatusCode.InvalidArgument, "given twice", Request("feed_ranker", ("user", ["u1"]), ("item", ["i1"]), ("user", ["u2"])));
        await AssertStatus(StatusCode.InvalidArgument, "entities[0].ids: has 2 ids", Request("feed_ranker", ("user", ["u1", "u2"]), ("item", ["i1", "i2", "i3"])));
        await AssertStatus(StatusCode.InvalidArgument, "entities[1].ids[1]: is empty", Request("feed_ranker", ("user", ["u1"]), ("item", ["i1", ""])));
        await AssertStatus(StatusCode.FailedPrecondition, "user_views:last_sport", Request("raw_sport", ("user", ["u1"])));

        var wrongType = Request("feed_ranker", ("user", ["u1"]), ("item", ["i1"]));
        wrongType.RequestFields.Add(new RequestFieldColumn { Name = "hour", Values = { new Value { StringValue = "nine" } } });
        await AssertStatus(StatusCode.InvalidArgument, "request_fields[0].values[0]: is string", wrongType);
        var unknownField = Request("feed_ranker", ("user", ["u1"]), ("item", ["i1"]));
        unknownField.RequestFields.Add(new RequestFieldColumn { Name = "minute", Values = { new Value { Int64Value = 1 } } });
        await AssertStatus(StatusCode.InvalidArgument, "'minute' is not a request field", unknownField);

        var lookup = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "feed_ranker", EntityIds = { "u1" } };
        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.Serving.GetOnlineFeaturesAsync(lookup));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("GetInferenceInputs", error.Status.Detail, StringComparison.Ordinal);

        // The same user on different rows with different items is no duplicate, and still serves.
        var ok = await client.Serving.GetInferenceInputsAsync(Request("feed_ranker", ("user", ["u1", "u1"]), ("item", ["i1", "i2"])));
        Assert.Equal(2, ok.RowCount);

        async Task AssertStatus(StatusCode code, string messagePart, GetInferenceInputsRequest request)
        {
            var error = await Assert.ThrowsAsync<RpcException>(async () => await client.Serving.GetInferenceInputsAsync(request));
            Assert.Equal(code, error.StatusCode);
            Assert.Contains(messagePart, error.Status.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_one_megabyte_string_request_field_is_invalid_argument_naming_its_value()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        var apply = Apply();
        apply.Documents.Add(new DefinitionDocument
        {
            Name = "device.yaml",
            Yaml = """
                feature_services:
                  - name: device_ranker
                    features: [user_views:views_1h, device]
                    request_fields: { device: string }
                    encodings: { device: { categories: [ios, android] } }
                """,
        });
        await client.Registry.ApplyDefinitionsAsync(apply);
        var request = Request("device_ranker", ("user", ["u1", "u2"]));
        request.RequestFields.Add(new RequestFieldColumn { Name = "device", Values = { new Value { StringValue = "ios" }, new Value { StringValue = new string('x', 1_048_576) } } });

        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.Serving.GetInferenceInputsAsync(request));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var violation = Assert.Single(error.GetRpcStatus()!.GetDetail<Google.Rpc.BadRequest>()!.FieldViolations);
        Assert.Equal("request_fields[0].values[1]", violation.Field);
        Assert.Contains("the limit is 4096", violation.Description, StringComparison.Ordinal);
        request.RequestFields[0].Values[1].StringValue = "android";
        Assert.Equal(2, (await client.Serving.GetInferenceInputsAsync(request)).RowCount);
    }

    private static GetInferenceInputsRequest Request(string service, params (string Type, string[] Ids)[] columns)
    {
        var request = new GetInferenceInputsRequest { FeatureService = service };
        foreach (var (type, ids) in columns)
        {
            request.Entities.Add(new EntityKeyColumn { EntityType = type, Ids = { ids } });
        }

        return request;
    }

    /// <summary>The cell agrees with the plain lookup's value: encoded when present (mask 1), else the default or NaN (mask 0).</summary>
    private static void AssertCell(GetInferenceInputsResponse inputs, int row, int column, FeatureValue looked, Func<Value, float> encode, float fallback)
    {
        var present = looked.Status == FeatureStatus.Present;
        Assert.Equal(present ? 1 : 0, inputs.Mask[(row * inputs.ColumnCount) + column]);
        Assert.Equal(present ? encode(looked.Value) : fallback, Cell(inputs, row, column));
    }

    /// <summary>
    /// The Arrow answer's one record batch turned back into values and mask: each column's float32 value buffer
    /// (under nulls too) and 1 where its validity bit is set.
    /// </summary>
    private static GetInferenceInputsResponse ReadArrow(GetInferenceInputsResponse response, out Schema schema)
    {
        using var reader = new ArrowStreamReader(new MemoryStream(response.ArrowIpc.ToByteArray()));
        using var batch = reader.ReadNextRecordBatch();
        Assert.NotNull(batch);
        Assert.Null(reader.ReadNextRecordBatch());
        schema = reader.Schema;
        Assert.Equal((response.RowCount, response.ColumnCount), (batch.Length, batch.ColumnCount));
        var values = new byte[batch.Length * batch.ColumnCount * 4];
        var mask = new byte[batch.Length * batch.ColumnCount];
        for (var column = 0; column < batch.ColumnCount; column++)
        {
            var array = Assert.IsType<FloatArray>(batch.Column(column));
            for (var row = 0; row < batch.Length; row++)
            {
                var cell = (row * batch.ColumnCount) + column;
                BinaryPrimitives.WriteSingleLittleEndian(values.AsSpan(cell * 4), array.Values[row]);
                mask[cell] = array.IsValid(row) ? (byte)1 : (byte)0;
                Assert.Equal(array.IsValid(row), array.GetValue(row).HasValue);
            }
        }

        return new GetInferenceInputsResponse
        {
            RowCount = batch.Length,
            ColumnCount = batch.ColumnCount,
            Values = ByteString.CopyFrom(values),
            Mask = ByteString.CopyFrom(mask),
        };
    }

    private static float Cell(GetInferenceInputsResponse inputs, int row, int column) =>
        BinaryPrimitives.ReadSingleLittleEndian(inputs.Values.Span[(((row * inputs.ColumnCount) + column) * 4)..]);

    private static float Category(string[] categories, string value) => Array.IndexOf(categories, value) is var i and >= 0 ? i : categories.Length;

    private static async Task<GetOnlineFeaturesResponse> Lookup(GatewayClient client, string entityType, string[] ids, string[] features)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = entityType };
        request.EntityIds.Add(ids);
        (request.Features ??= new()).References.Add(features);
        return await client.Serving.GetOnlineFeaturesAsync(request);
    }

    private static ApplyDefinitionsRequest Apply()
    {
        var request = new ApplyDefinitionsRequest();
        request.Documents.Add(new DefinitionDocument { Name = "feed.yaml", Yaml = Yaml });
        request.Documents.Add(new DefinitionDocument { Name = "items.yaml", Yaml = "entity: item\nkey: item_id\n" });
        return request;
    }

    private static Event View(string id, string user, string item, DateTimeOffset time, string sport, double seconds, bool premium)
    {
        var e = new Event { EventId = id, EventTime = Timestamp.FromDateTimeOffset(time) };
        e.Fields["user_id"] = new Value { StringValue = user };
        e.Fields["item_id"] = new Value { StringValue = item };
        e.Fields["sport"] = new Value { StringValue = sport };
        e.Fields["seconds"] = new Value { DoubleValue = seconds };
        e.Fields["premium"] = new Value { BoolValue = premium };
        return e;
    }
}
