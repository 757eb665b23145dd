using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// The serving and ingestion RPCs as HTTP/JSON (gRPC JSON transcoding, docs/http-json.md) over plain HTTP/1.1 against
/// the real gateway process: the same answers, errors and access control as gRPC.
/// </summary>
public sealed class HttpJsonEndToEndTests
{
    private const string Lookup = "v1/features:lookup";
    private const string Inference = "v1/inference-inputs";
    private const string Push = "v1/sources/plays/events";

    [Fact]
    public async Task Push_lookup_and_inference_inputs_work_over_http1_json_and_errors_carry_the_grpc_status()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using (var client = new GatewayClient(gateway))
        {
            await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        }

        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var now = DateTimeOffset.UtcNow;
        var push = await PostAsync(http, Push, new JsonObject
        {
            ["events"] = new JsonArray(
                Play("j1", "u1", now.AddMinutes(-2), "tennis", 30),
                Play("j2", "u1", now.AddMinutes(-1), "f1", 12.5),
                Play("j3", "u2", now.AddMinutes(-1), "football", 4)),
        });
        Assert.Equal(HttpStatusCode.OK, push.Status);
        Assert.Equal(new Version(1, 1), push.Version);
        Assert.Equal(3, (int)push.Body["accepted"]!);
        Assert.Equal("EVENT_STATUS_ACCEPTED", (string?)push.Body["results"]![0]!["status"]);

        var lookup = await PostAsync(http, Lookup, new JsonObject
        {
            ["entityType"] = "user",
            ["entityIds"] = new JsonArray("u1", "nobody"),
            ["features"] = new JsonObject { ["references"] = new JsonArray("user_plays:plays_1h", "user_plays:seconds_24h", "user_plays:last_sport") },
        });
        Assert.Equal(HttpStatusCode.OK, lookup.Status);
        var u1 = lookup.Body["entities"]![0]!["values"]!;
        Assert.Equal("u1", (string?)lookup.Body["entities"]![0]!["entityId"]);
        Assert.Equal(2, long.Parse(u1[0]!["value"]!["int64Value"]!.ToString(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(42.5, (double)u1[1]!["value"]!["doubleValue"]!);
        Assert.Equal("f1", (string?)u1[2]!["value"]!["stringValue"]);
        Assert.Equal("FEATURE_STATUS_PRESENT", (string?)u1[2]!["status"]);
        Assert.Equal("FEATURE_STATUS_NOT_FOUND", (string?)lookup.Body["entities"]![1]!["values"]![0]!["status"]);

        // bytes fields (values, mask) come base64-encoded, as proto3's JSON mapping says.
        var inference = await PostAsync(http, Inference, new JsonObject
        {
            ["featureService"] = "ranker",
            ["entities"] = new JsonArray(new JsonObject { ["entityType"] = "user", ["ids"] = new JsonArray("u1", "u2", "nobody") }),
        });
        Assert.Equal(HttpStatusCode.OK, inference.Status);
        Assert.Equal((3, 3), ((int)inference.Body["rowCount"]!, (int)inference.Body["columnCount"]!));
        var values = Convert.FromBase64String((string)inference.Body["values"]!);
        var mask = Convert.FromBase64String((string)inference.Body["mask"]!);
        Assert.Equal(3 * 3 * 4, values.Length);
        float Cell(int row, int column) => BinaryPrimitives.ReadSingleLittleEndian(values.AsSpan(((row * 3) + column) * 4));
        Assert.Equal([2f, 42.5f, 2f], [Cell(0, 0), Cell(0, 1), Cell(0, 2)]);
        Assert.Equal([1f, 4f, 0f], [Cell(1, 0), Cell(1, 1), Cell(1, 2)]);
        Assert.Equal([0f, 0f], [Cell(2, 0), Cell(2, 1)]);
        Assert.True(float.IsNaN(Cell(2, 2)));
        Assert.Equal(new byte[] { 1, 1, 1, 1, 1, 1, 0, 0, 0 }, mask);
        Assert.Equal("user_plays:last_sport", (string?)inference.Body["columns"]![2]!["name"]);

        var invalid = await PostAsync(http, Lookup, new JsonObject { ["entityType"] = "user", ["entityIds"] = new JsonArray(), ["featureService"] = "ranker" });
        Assert.Equal(HttpStatusCode.BadRequest, invalid.Status);
        Assert.Equal((int)StatusCode.InvalidArgument, (int)invalid.Body["code"]!);
        Assert.Contains("entity_ids", (string?)invalid.Body["message"], StringComparison.Ordinal);
        Assert.Contains("must name at least one entity", (string?)invalid.Body["message"], StringComparison.Ordinal);
        // The field violation travels as google.rpc.BadRequest in the error body's details, as over gRPC.
        var detail = invalid.Body["details"]![0]!;
        Assert.Equal("type.googleapis.com/google.rpc.BadRequest", (string?)detail["@type"]);
        Assert.Equal("entity_ids", (string?)detail["fieldViolations"]![0]!["field"]);

        var malformed = await PostRawAsync(http, Lookup, "{\"entityType\": ");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.Equal((int)StatusCode.InvalidArgument, (int)malformed.Body["code"]!);

        var unknownService = await PostAsync(http, Inference, new JsonObject
        {
            ["featureService"] = "no_such_service",
            ["entities"] = new JsonArray(new JsonObject { ["entityType"] = "user", ["ids"] = new JsonArray("u1") }),
        });
        Assert.Equal(HttpStatusCode.NotFound, unknownService.Status);
        Assert.Equal((int)StatusCode.NotFound, (int)unknownService.Body["code"]!);
        Assert.Contains("no_such_service", (string?)unknownService.Body["message"], StringComparison.Ordinal);

        var unknownSource = await PostAsync(http, "v1/sources/no-such-source/events", new JsonObject { ["events"] = new JsonArray(Play("j9", "u1", now, "f1", 1)) });
        Assert.Equal(HttpStatusCode.NotFound, unknownSource.Status);

        using var unknownRoute = await http.PostAsync(new Uri("v1/no-such-route", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, unknownRoute.StatusCode);
        Assert.True(gateway.IsRunning);
    }

    [Fact]
    public async Task An_unknown_json_field_is_a_400_naming_its_path_and_nothing_is_served()
    {
        using var temp = new TempDirectory();
        // The transcoder's own category at Information, as before it was turned down, to show it no longer logs a stack.
        await using var gateway = new GatewayProcess(
            temp.Path,
            "--Logging:LogLevel:Grpc.AspNetCore.Grpc.JsonTranscoding=Information",
            "--Logging:LogLevel:OrleansFeatures.Gateway.Services.StrictJsonRequests=Debug");
        await gateway.StartAsync();
        using (var client = new GatewayClient(gateway))
        {
            await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        }

        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var misspelled = await PostAsync(http, Inference, new JsonObject
        {
            ["featureService"] = "ranker",
            ["entities"] = new JsonArray(new JsonObject { ["entityType"] = "user", ["ids"] = new JsonArray("u1") }),
            ["fromat"] = "INFERENCE_FORMAT_ARROW",
        });
        Assert.Equal(HttpStatusCode.BadRequest, misspelled.Status);
        Assert.Equal((int)StatusCode.InvalidArgument, (int)misspelled.Body["code"]!);
        Assert.Contains("fromat", (string?)misspelled.Body["message"], StringComparison.Ordinal);
        Assert.Equal("fromat", (string?)misspelled.Body["details"]![0]!["fieldViolations"]![0]!["field"]);
        Assert.Null(misspelled.Body["values"]);

        // Nested, and on the push route (its source from the path): the path names where the field is.
        var play = Play("s1", "u1", DateTimeOffset.UtcNow, "f1", 1);
        play["fields"]!["sport"]!["stringValu"] = "x";
        var push = await PostAsync(http, Push, new JsonObject { ["events"] = new JsonArray(play) });
        Assert.Equal(HttpStatusCode.BadRequest, push.Status);
        Assert.Equal("events[0].fields[sport].stringValu", (string?)push.Body["details"]![0]!["fieldViolations"]![0]!["field"]);

        // Proto names and lowerCamelCase names are both fields; a body that is not JSON is still the transcoder's 400.
        var lookup = await PostAsync(http, Lookup, new JsonObject
        {
            ["entity_type"] = "user", ["entityIds"] = new JsonArray("u1"), ["feature_service"] = "ranker",
        });
        Assert.Equal(HttpStatusCode.OK, lookup.Status);
        var malformed = await PostRawAsync(http, Lookup, "{\"entityType\": ");
        Assert.Equal(HttpStatusCode.BadRequest, malformed.Status);
        Assert.Equal("Request JSON payload is not correctly formatted.", (string?)malformed.Body["message"]);
        var wrongType = await PostRawAsync(http, Lookup, "{\"entityType\": 5, \"entityIds\": [\"u1\"], \"featureService\": \"ranker\"}");
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.Status);
        Assert.StartsWith("Request JSON payload is not correctly formatted.", (string?)wrongType.Body["message"], StringComparison.Ordinal);

        // Each malformed body is one log line, without the exception's stack trace.
        await Poll.UntilAsync(
            () => Task.FromResult(gateway.Output.Split('\n').Count(l => l.Contains("Refused an HTTP/JSON call", StringComparison.Ordinal))),
            count => count == 2,
            TimeSpan.FromSeconds(10),
            "one log line per malformed body");
        Assert.DoesNotContain("JsonException", gateway.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Api_keys_apply_to_the_json_routes_exactly_as_to_grpc()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(
            temp.Path,
            ApiKeys.Arguments(("admin", ["admin", "read", "write"], []), ("reader", ["read"], []), ("writer", ["write"], []), ("games", ["read", "write"], ["game"])))
        { AuthOff = false };
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request(), ApiKeys.Header("admin"));
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var lookupJson = new JsonObject { ["entityType"] = "user", ["entityIds"] = new JsonArray("u1"), ["featureService"] = "ranker" };
        var lookupGrpc = new GetOnlineFeaturesRequest { EntityType = "user", EntityIds = { "u1" }, FeatureService = "ranker" };
        var inferenceJson = new JsonObject { ["featureService"] = "ranker", ["entities"] = new JsonArray(new JsonObject { ["entityType"] = "user", ["ids"] = new JsonArray("u1") }) };
        var inferenceGrpc = new GetInferenceInputsRequest { FeatureService = "ranker", Entities = { new EntityKeyColumn { EntityType = "user", Ids = { "u1" } } } };
        var now = DateTimeOffset.UtcNow;

        var calls = new (string Name, string Path, Func<JsonObject> Json, Func<Metadata?, Task> Grpc)[]
        {
            ("lookup", Lookup, () => (JsonObject)lookupJson.DeepClone(), async h => await client.Serving.GetOnlineFeaturesAsync(lookupGrpc, h)),
            ("inference", Inference, () => (JsonObject)inferenceJson.DeepClone(), async h => await client.Serving.GetInferenceInputsAsync(inferenceGrpc, h)),
            ("push", Push, () => new JsonObject { ["events"] = new JsonArray(Play(Guid.NewGuid().ToString("N"), "u1", now, "f1", 1)) },
                async h => await client.Ingestion.PushEventsAsync(Events.Push(Events.Play(Guid.NewGuid().ToString("N"), "u1", now, "f1", "view", 1)), h)),
        };
        var presented = new (string Name, Action<HttpRequestMessage> Json, Metadata? Grpc)[]
        {
            ("no key", _ => { }, null),
            ("an unknown key", r => r.Headers.Add("x-api-key", "not-a-configured-key"), new Metadata { { "x-api-key", "not-a-configured-key" } }),
            ("reader", r => r.Headers.TryAddWithoutValidation("authorization", "ApiKey " + ApiKeys.Secret("reader")), ApiKeys.Header("reader")),
            ("writer", r => r.Headers.Add("x-api-key", ApiKeys.Secret("writer")), new Metadata { { "x-api-key", ApiKeys.Secret("writer") } }),
            ("games only", r => r.Headers.TryAddWithoutValidation("authorization", "ApiKey " + ApiKeys.Secret("games")), ApiKeys.Header("games")),
        };

        var expected = new Dictionary<(string, string), StatusCode>
        {
            [("lookup", "no key")] = StatusCode.Unauthenticated,
            [("lookup", "reader")] = StatusCode.OK,
            [("lookup", "writer")] = StatusCode.PermissionDenied,
            [("push", "writer")] = StatusCode.OK,
            [("push", "reader")] = StatusCode.PermissionDenied,
        };
        var failures = new List<string>();
        foreach (var call in calls)
        {
            foreach (var key in presented)
            {
                var grpcStatus = await StatusOfAsync(() => call.Grpc(key.Grpc));
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(call.Path, UriKind.Relative))
                {
                    Content = new StringContent(call.Json().ToJsonString(), Encoding.UTF8, "application/json"),
                };
                key.Json(request);
                using var response = await http.SendAsync(request);
                var jsonStatus = response.StatusCode == HttpStatusCode.OK
                    ? StatusCode.OK
                    : (StatusCode)(int)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["code"]!;
                if (jsonStatus != grpcStatus || response.StatusCode != HttpStatusOf(grpcStatus))
                {
                    failures.Add($"{call.Name} with {key.Name}: gRPC {grpcStatus}, JSON {jsonStatus} (HTTP {(int)response.StatusCode})");
                }

                if (expected.TryGetValue((call.Name, key.Name), out var want) && want != grpcStatus)
                {
                    failures.Add($"{call.Name} with {key.Name}: expected {want}, got {grpcStatus}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        using var missing = await http.PostAsync(new Uri(Lookup, UriKind.Relative), new StringContent(lookupJson.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Contains("an API key is required", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static HttpStatusCode HttpStatusOf(StatusCode status) => status switch
    {
        StatusCode.OK => HttpStatusCode.OK,
        StatusCode.Unauthenticated => HttpStatusCode.Unauthorized,
        StatusCode.PermissionDenied => HttpStatusCode.Forbidden,
        StatusCode.InvalidArgument => HttpStatusCode.BadRequest,
        StatusCode.NotFound => HttpStatusCode.NotFound,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not expected in this test"),
    };

    private static async Task<StatusCode> StatusOfAsync(Func<Task> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException e)
        {
            return e.StatusCode;
        }
    }

    private static JsonObject Play(string id, string user, DateTimeOffset time, string sport, double seconds) => new()
    {
        ["eventId"] = id,
        ["eventTime"] = time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
        ["fields"] = new JsonObject
        {
            ["user_id"] = new JsonObject { ["stringValue"] = user },
            ["sport"] = new JsonObject { ["stringValue"] = sport },
            ["kind"] = new JsonObject { ["stringValue"] = "view" },
            ["seconds"] = new JsonObject { ["doubleValue"] = seconds },
        },
    };

    private static Task<(HttpStatusCode Status, Version Version, JsonNode Body)> PostAsync(HttpClient http, string path, JsonObject body) =>
        PostRawAsync(http, path, body.ToJsonString());

    private static async Task<(HttpStatusCode Status, Version Version, JsonNode Body)> PostRawAsync(HttpClient http, string path, string body)
    {
        using var response = await http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.Version, JsonNode.Parse(text) ?? throw new InvalidOperationException($"{path}: empty body"));
    }
}
