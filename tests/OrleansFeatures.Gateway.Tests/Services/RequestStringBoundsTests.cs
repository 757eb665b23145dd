using Google.Protobuf.Reflection;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Gateway.Services;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Tests.Services;

public sealed class RequestStringBoundsTests
{
    private static readonly RequestStringBounds Bounds = new(new EventLimits());

    [Fact]
    public void Every_string_field_of_every_request_message_has_a_bound()
    {
        var missing = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var service in new[] { FeatureServing.Descriptor, FeatureIngestion.Descriptor, FeatureRegistry.Descriptor })
        {
            foreach (var method in service.Methods)
            {
                Collect(method.InputType, seen, missing);
            }
        }

        Assert.Empty(missing);
    }

    [Fact]
    public void A_one_megabyte_request_field_string_is_refused_on_the_path_of_its_value()
    {
        var request = new GetInferenceInputsRequest { FeatureService = "ranker" };
        request.Entities.Add(new EntityKeyColumn { EntityType = "user", Ids = { "u1" } });
        var column = new RequestFieldColumn { Name = "query" };
        column.Values.Add(new Value { StringValue = "short" });
        column.Values.Add(new Value { StringValue = new string('x', 1_048_576) });
        request.RequestFields.Add(column);

        var error = Bounds.Check(request);

        var violation = Assert.Single(error!.Violations);
        Assert.Equal("request_fields[0].values[1]", violation.Field);
        Assert.Equal("is 1048576 characters; the limit is 4096 (FeatureStore:Limits:MaxStringFieldLength)", violation.Description);
    }

    [Fact]
    public void Names_past_128_characters_are_refused_wherever_they_are_and_all_are_reported()
    {
        var name = new string('n', 129);
        var request = new GetInferenceInputsRequest { FeatureService = "ranker" };
        request.Entities.Add(new EntityKeyColumn { EntityType = name, Ids = { "u1" } });
        request.RequestFields.Add(new RequestFieldColumn { Name = name });

        var error = Bounds.Check(request);

        Assert.Equal(["entities[0].entity_type", "request_fields[0].name"], error!.Violations.Select(v => v.Field));
        Assert.NotNull(Bounds.Check(new PushEventsRequest { Source = name }));
        Assert.Null(Bounds.Check(new PushEventsRequest { Source = "plays" }));
    }

    [Fact]
    public void Event_strings_are_left_to_per_event_admission_and_yaml_to_the_registry()
    {
        var push = new PushEventsRequest { Source = "plays" };
        push.Events.Add(new Event { EventId = new string('e', 10_000) });
        var apply = new ApplyDefinitionsRequest();
        apply.Documents.Add(new DefinitionDocument { Name = "a.yaml", Yaml = new string('#', 2_000_000) });

        Assert.Null(Bounds.Check(push));
        Assert.Null(Bounds.Check(apply));
    }

    private static void Collect(MessageDescriptor message, HashSet<string> seen, List<string> missing)
    {
        if (!seen.Add(message.FullName) || message.File.Package == "google.protobuf")
        {
            return;
        }

        foreach (var field in message.Fields.InDeclarationOrder())
        {
            var key = $"{message.FullName}.{field.Name}";
            if (RequestStringBounds.Bounds.TryGetValue(key, out var kind) && kind == RequestStringBounds.Kind.CheckedByService)
            {
                continue;
            }

            if (field.FieldType == FieldType.String && !RequestStringBounds.Bounds.ContainsKey(key))
            {
                missing.Add(key);
            }
            else if (field.FieldType == FieldType.Message)
            {
                Collect(field.MessageType, seen, missing);
            }
        }
    }
}
