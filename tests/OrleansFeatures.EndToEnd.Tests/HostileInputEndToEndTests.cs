using System.Diagnostics;
using System.Text;
using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using Xunit.Abstractions;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// Requests a hostile client can send to a published gateway: each gets a precise, short status, the process
/// stays up, and other calls on the same connection are unaffected.
/// </summary>
public sealed class HostileInputEndToEndTests(ITestOutputHelper output)
{
    private const int BoundedDetail = 1_024;

    private static readonly Marshaller<byte[]> RawBytes = Marshallers.Create(bytes => bytes, bytes => bytes);

    [Fact]
    public async Task Garbage_bytes_and_invalid_utf8_are_invalid_argument_and_the_gateway_keeps_serving()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());

        byte[] garbage = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x07];
        // Field 1 (a string in every request below) holding the bytes C3 28: not UTF-8.
        byte[] invalidUtf8 = [0x0A, 0x02, 0xC3, 0x28];
        foreach (var (service, method) in new[]
        {
            ("orleansfeatures.v1.FeatureServing", "GetOnlineFeatures"),
            ("orleansfeatures.v1.FeatureIngestion", "PushEvents"),
            ("orleansfeatures.v1.FeatureRegistry", "GetFeatureView"),
            ("orleansfeatures.v1.FeatureRegistry", "ApplyDefinitions"),
        })
        {
            var garbageError = await Assert.ThrowsAsync<RpcException>(() => CallRaw(client, service, method, garbage));
            Assert.Equal(StatusCode.InvalidArgument, garbageError.StatusCode);
            Assert.Contains("not a valid", garbageError.Status.Detail, StringComparison.Ordinal);

            // ApplyDefinitionsRequest's field 1 is a message, not a string.
            if (method != "ApplyDefinitions")
            {
                var utf8Error = await Assert.ThrowsAsync<RpcException>(() => CallRaw(client, service, method, invalidUtf8));
                Assert.Equal(StatusCode.InvalidArgument, utf8Error.StatusCode);
                Assert.Contains("UTF-8", utf8Error.Status.Detail, StringComparison.Ordinal);
            }
        }

        Assert.True(gateway.IsRunning);
        var lookup = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "ranker" };
        lookup.EntityIds.Add("u1");
        Assert.Single((await client.Serving.GetOnlineFeaturesAsync(lookup)).Entities);
    }

    [Fact]
    public async Task A_100_KB_name_gets_a_short_invalid_argument_while_a_call_beside_it_on_the_channel_succeeds()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        var huge = new string('x', 100_000);

        var byEntityType = new GetOnlineFeaturesRequest { EntityType = huge };
        byEntityType.EntityIds.Add("u1");
        (byEntityType.Features ??= new()).References.Add("user_plays:plays_1h");
        var byReference = new GetOnlineFeaturesRequest { EntityType = "user" };
        byReference.EntityIds.Add("u1");
        (byReference.Features ??= new()).References.Add("user_plays:" + huge);
        var byService = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = huge };
        byService.EntityIds.Add("u1");
        var byDocumentName = new ApplyDefinitionsRequest();
        byDocumentName.Documents.Add(new DefinitionDocument { Name = huge, Yaml = E2EDefinitions.Yaml });
        var byYamlKey = E2EDefinitions.Request(E2EDefinitions.Yaml + $"{huge}: 1\n");
        var bySourceName = Events.Push(Events.Play("e1", "u1", DateTimeOffset.UtcNow, "tennis", "click", 1));
        bySourceName.Source = huge;

        var valid = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "ranker" };
        valid.EntityIds.Add("u1");
        var neighbour = client.Serving.GetOnlineFeaturesAsync(valid).ResponseAsync;

        var failures = new (string What, Task Call)[]
        {
            ("entity_type", client.Serving.GetOnlineFeaturesAsync(byEntityType).ResponseAsync),
            ("features[0]", client.Serving.GetOnlineFeaturesAsync(byReference).ResponseAsync),
            ("feature_service", client.Serving.GetOnlineFeaturesAsync(byService).ResponseAsync),
            ("feature view name", client.Registry.GetFeatureViewAsync(new GetFeatureViewRequest { Name = huge }).ResponseAsync),
            ("document name", client.Registry.ApplyDefinitionsAsync(byDocumentName).ResponseAsync),
            ("yaml key", client.Registry.ApplyDefinitionsAsync(byYamlKey).ResponseAsync),
            ("source", client.Ingestion.PushEventsAsync(bySourceName).ResponseAsync),
        };

        foreach (var (what, call) in failures)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => call);
            output.WriteLine($"{what}: {error.StatusCode}, {error.Status.Detail.Length} characters");
            // Every one is refused by its length (docs/api.md, "String bounds"), the source name too.
            Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
            Assert.True(error.Status.Detail.Length < BoundedDetail, $"{what}: a detail of {error.Status.Detail.Length} characters");
        }

        Assert.Single((await neighbour).Entities);
        Assert.Single((await client.Serving.GetOnlineFeaturesAsync(valid)).Entities);
    }

    [Fact]
    public async Task Deeply_nested_yaml_and_filters_sent_to_plan_definitions_are_refused_and_the_gateway_stays_up()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());

        // 60,000 levels of flow mappings in 300 KB: this killed the process by stack overflow.
        var deep = "a: " + new string('{', 150_000) + new string('}', 150_000);
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RpcException>(async () => await client.Registry.ValidateDefinitionsAsync(E2EDefinitions.Request(deep)));
        output.WriteLine($"deep YAML refused in {watch.ElapsedMilliseconds} ms: {error.Status.Detail}");
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("levels deep", error.Status.Detail, StringComparison.Ordinal);

        // A filter of 50,000 nested parentheses is a definition error, reported in the plan like any other.
        var deepFilter = new string('(', 50_000) + "kind == 'click'" + new string(')', 50_000);
        var plan = await client.Registry.ValidateDefinitionsAsync(E2EDefinitions.Request(
            E2EDefinitions.Yaml.Replace("where: \"kind == 'click'\"", $"where: \"{deepFilter}\"", StringComparison.Ordinal)));
        var filterError = Assert.Single(plan.Errors);
        Assert.Contains("where", filterError.Field, StringComparison.Ordinal);
        Assert.True(filterError.Message.Length < BoundedDetail);

        // A syntax error within the limits stays a definition error in the plan, not a refused request.
        var syntax = await client.Registry.ValidateDefinitionsAsync(E2EDefinitions.Request("entity: [user"));
        Assert.Contains("YAML syntax error", Assert.Single(syntax.Errors).Message, StringComparison.Ordinal);

        Assert.True(gateway.IsRunning);
        Assert.Equal(1, (await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest())).RegistryVersion);
    }

    [Fact]
    public async Task Of_twenty_concurrent_applies_expecting_one_version_one_wins_and_the_rest_are_aborted()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        var first = E2EDefinitions.Request();
        first.ExpectedRegistryVersion = 0;
        Assert.Equal(1, (await client.Registry.ApplyDefinitionsAsync(first)).RegistryVersion);

        var stale = E2EDefinitions.Request();
        stale.ExpectedRegistryVersion = 0;
        var staleError = await Assert.ThrowsAsync<RpcException>(async () => await client.Registry.ApplyDefinitionsAsync(stale));
        Assert.Equal(StatusCode.Aborted, staleError.StatusCode);
        Assert.Contains("at version 1, not the expected version 0", staleError.Status.Detail, StringComparison.Ordinal);
        var stalePlan = await Assert.ThrowsAsync<RpcException>(async () => await client.Registry.ValidateDefinitionsAsync(stale));
        Assert.Equal(StatusCode.Aborted, stalePlan.StatusCode);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            var request = E2EDefinitions.Request();
            request.Documents.Add(new DefinitionDocument
            {
                Name = $"extra-{i}.yaml",
                Yaml = $"sources:\n  - name: extra-{i}\n    fields: {{ event_id: string, ts: int64 }}\n",
            });
            request.ExpectedRegistryVersion = 1;
            try
            {
                return (await client.Registry.ApplyDefinitionsAsync(request)).Applied ? StatusCode.OK : StatusCode.Unknown;
            }
            catch (RpcException error)
            {
                return error.StatusCode;
            }
        }));

        Assert.Equal(1, outcomes.Count(o => o == StatusCode.OK));
        Assert.Equal(19, outcomes.Count(o => o == StatusCode.Aborted));
        var listed = await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest());
        Assert.Equal(2, listed.RegistryVersion);
        Assert.Equal(2, listed.Sources.Count);
    }

    [Fact]
    public async Task A_stale_expected_registry_version_is_aborted_before_an_invalid_document_is_validated()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());

        foreach (var validateOnly in new[] { false, true })
        {
            var request = E2EDefinitions.Request("entity: [user");
            request.ExpectedRegistryVersion = 0;
            request.ValidateOnly = validateOnly;
            var error = await Assert.ThrowsAsync<RpcException>(async () => await client.Registry.ApplyDefinitionsAsync(request));
            Assert.Equal(StatusCode.Aborted, error.StatusCode);
            Assert.Contains("retry with expected_registry_version 1", error.Status.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("expected_version", error.Status.Detail.Replace("expected_registry_version", "", StringComparison.Ordinal), StringComparison.Ordinal);
        }
    }

    private static async Task CallRaw(GatewayClient client, string service, string method, byte[] body)
    {
        var raw = new Method<byte[], byte[]>(MethodType.Unary, service, method, RawBytes, RawBytes);
        await client.Invoker.AsyncUnaryCall(raw, null, new CallOptions(), body);
    }
}
