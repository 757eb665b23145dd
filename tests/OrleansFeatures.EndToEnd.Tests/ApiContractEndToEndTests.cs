using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using Value = OrleansFeatures.V1.Value;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>One gateway process with the test definitions and a one-hour-TTL view applied, shared by the API contract tests.</summary>
public sealed class ContractGateway : IAsyncLifetime
{
    public const string ShortTtlYaml = """
        feature_views:
          - name: user_recent
            entity: user
            source: plays
            ttl: 1h
            allowed_lateness: 1h
            features:
              - { name: sport, latest: sport }
        """;

    private readonly TempDirectory _directory = new();

    public GatewayProcess Process { get; private set; } = null!;

    internal GatewayClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Process = new GatewayProcess(_directory.Path);
        await Process.StartAsync();
        Client = new GatewayClient(Process);
        var request = E2EDefinitions.Request();
        request.Documents.Add(new DefinitionDocument { Name = "recent.yaml", Yaml = ShortTtlYaml });
        await Client.Registry.ApplyDefinitionsAsync(request);
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Process.DisposeAsync();
        _directory.Dispose();
    }
}

/// <summary>The v1 API's contract (docs/api.md): statuses as documented, field violations, typed registry answers.</summary>
public sealed class ApiContractEndToEndTests(ContractGateway gateway) : IClassFixture<ContractGateway>
{
    private GatewayClient Client => gateway.Client;

    [Fact]
    public async Task A_lookup_answers_the_instant_its_values_were_evaluated_at()
    {
        var before = DateTimeOffset.UtcNow.AddMilliseconds(-1);
        var response = await Client.Serving.GetOnlineFeaturesAsync(Lookup("user", ["someone"], "user_plays:plays_1h"));

        Assert.NotNull(response.EvaluatedAt);
        Assert.InRange(response.EvaluatedAt.ToDateTimeOffset(), before, DateTimeOffset.UtcNow.AddMilliseconds(1));
    }

    [Fact]
    public async Task An_expired_value_has_neither_a_value_nor_an_event_time()
    {
        var twoHoursAgo = DateTimeOffset.UtcNow.AddHours(-2);
        var pushed = await Client.Ingestion.PushEventsAsync(Events.Push(Events.Play("expiring-1", "expiring-user", twoHoursAgo, "f1", "view", 5)));
        Assert.Equal(EventStatus.Accepted, Assert.Single(pushed.Results).Status);

        var response = await Client.Serving.GetOnlineFeaturesAsync(Lookup("user", ["expiring-user"], "user_recent:sport", "user_plays:last_sport"));

        var expired = response.Entities[0].Values[0];
        Assert.Equal(FeatureStatus.Expired, expired.Status);
        Assert.Equal(Value.KindOneofCase.None, expired.Value.KindCase);
        Assert.Null(expired.EventTime);
        var present = response.Entities[0].Values[1];
        Assert.Equal(FeatureStatus.Present, present.Status);
        Assert.Equal(twoHoursAgo.ToUnixTimeMilliseconds(), present.EventTime.ToDateTimeOffset().ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task A_defaulted_value_has_the_typed_default_and_no_event_time()
    {
        var request = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "ranker" };
        request.EntityIds.Add("never-seen");

        var values = (await Client.Serving.GetOnlineFeaturesAsync(request)).Entities[0].Values;

        Assert.Equal(FeatureStatus.Defaulted, values[0].Status);
        Assert.Equal(new Value { Int64Value = 0 }, values[0].Value);
        Assert.Null(values[0].EventTime);
        Assert.Equal(new Value { DoubleValue = 0 }, values[1].Value);
    }

    [Fact]
    public async Task An_invalid_lookup_names_every_bad_field_in_bad_request_details()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.Serving.GetOnlineFeaturesAsync(Lookup("user", ["u1", "", " "], "plays_1h")));

        var violations = FieldViolations(error);
        Assert.Equal(["entity_ids[1]", "entity_ids[2]", "features.references[0]"], violations.Select(v => v.Field));
        Assert.All(violations, v => Assert.False(string.IsNullOrWhiteSpace(v.Description)));
        Assert.Contains("entity_ids[1]: is empty", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_lookup_with_neither_features_nor_a_service_is_invalid_naming_the_selection()
    {
        var request = new GetOnlineFeaturesRequest { EntityType = "user" };
        request.EntityIds.Add("u1");

        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.Serving.GetOnlineFeaturesAsync(request));

        Assert.Equal("selection", Assert.Single(FieldViolations(error)).Field);
    }

    [Fact]
    public async Task An_invalid_inference_request_names_the_bad_id_in_bad_request_details()
    {
        var request = new GetInferenceInputsRequest { FeatureService = "ranker" };
        request.Entities.Add(new EntityKeyColumn { EntityType = "user", Ids = { "u1", "" } });

        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.Serving.GetInferenceInputsAsync(request));

        Assert.Equal("entities[0].ids[1]", Assert.Single(FieldViolations(error)).Field);
    }

    [Fact]
    public async Task A_push_without_a_source_names_the_field_in_bad_request_details()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.Ingestion.PushEventsAsync(new PushEventsRequest { Events = { Events.Play("x", "u", DateTimeOffset.UtcNow, "f1", "view", 1) } }));

        Assert.Equal("source", Assert.Single(FieldViolations(error)).Field);
    }

    [Fact]
    public async Task Invalid_definitions_are_field_violations_on_the_document_that_holds_them()
    {
        var request = E2EDefinitions.Request();
        request.Documents.Add(new DefinitionDocument { Name = "broken.yaml", Yaml = ContractGateway.ShortTtlYaml.Replace("ttl: 1h", "ttl: soon", StringComparison.Ordinal) });

        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.Registry.ApplyDefinitionsAsync(request));

        var violation = Assert.Single(FieldViolations(error));
        Assert.Equal("documents[1].yaml", violation.Field);
        Assert.StartsWith("broken.yaml:", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_only_reports_errors_and_changes_and_applies_nothing()
    {
        var version = (await Client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest())).RegistryVersion;
        var adding = E2EDefinitions.Request();
        adding.Documents.Add(new DefinitionDocument { Name = "recent.yaml", Yaml = ContractGateway.ShortTtlYaml });
        adding.Documents.Add(new DefinitionDocument { Name = "extra.yaml", Yaml = "sources:\n  - name: extra\n    fields: { event_id: string, ts: int64 }\n" });
        var invalid = E2EDefinitions.Request(E2EDefinitions.Yaml.Replace("aggregation: max", "aggregation: biggest", StringComparison.Ordinal));

        var plan = await Client.Registry.ValidateDefinitionsAsync(adding);
        var refused = await Client.Registry.ValidateDefinitionsAsync(invalid);

        Assert.False(plan.Applied);
        Assert.Equal(version, plan.RegistryVersion);
        var change = Assert.Single(plan.Changes);
        Assert.Equal((ChangeKind.Added, ObjectType.Source, "extra"), (change.Kind, change.ObjectType, change.Name));
        Assert.False(refused.Applied);
        Assert.Contains("aggregation", Assert.Single(refused.Errors).Field, StringComparison.Ordinal);
        Assert.Equal(version, (await Client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest())).RegistryVersion);
    }

    [Fact]
    public async Task The_registry_describes_durations_enums_and_typed_defaults()
    {
        var view = await Client.Registry.GetFeatureViewAsync(new GetFeatureViewRequest { Name = "user_plays" });
        var service = await Client.Registry.GetFeatureServiceAsync(new GetFeatureServiceRequest { Name = "ranker" });
        var list = await Client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest());

        Assert.Equal(Duration.FromTimeSpan(TimeSpan.FromDays(7)), view.Ttl);
        Assert.Equal(Duration.FromTimeSpan(TimeSpan.FromHours(1)), view.AllowedLateness);
        var plays = view.Features.Single(f => f.Name == "plays_1h");
        Assert.Equal((Aggregation.Count, V1.ValueType.Int64), (plays.Aggregation, plays.Type));
        Assert.Equal(Duration.FromTimeSpan(TimeSpan.FromHours(1)), plays.Window);
        var latest = view.Features.Single(f => f.Name == "last_sport");
        Assert.Equal((Aggregation.Latest, V1.ValueType.String), (latest.Aggregation, latest.Type));
        Assert.Null(latest.Window);
        Assert.Equal(new Value { Int64Value = 0 }, service.Defaults["user_plays:plays_1h"]);
        Assert.Equal(new Value { DoubleValue = 0 }, service.Defaults["user_plays:seconds_24h"]);
        Assert.Equal(V1.ValueType.Double, list.Sources.Single(s => s.Name == "plays").Fields["seconds"]);
        Assert.True(list.RegistryVersion > 0);
    }

    private static GetOnlineFeaturesRequest Lookup(string entityType, string[] ids, params string[] references)
    {
        var request = new GetOnlineFeaturesRequest { EntityType = entityType, Features = new FeatureReferences { References = { references } } };
        request.EntityIds.Add(ids);
        return request;
    }

    private static IReadOnlyList<BadRequest.Types.FieldViolation> FieldViolations(RpcException error)
    {
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        var badRequest = error.GetRpcStatus()?.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        return badRequest.FieldViolations;
    }
}
