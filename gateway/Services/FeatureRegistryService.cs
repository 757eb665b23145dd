using System.Globalization;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Options;
using AggregationKind = OrleansFeatures.Core.Definitions.AggregationKind;
using FeatureServiceDefinition = OrleansFeatures.Core.Definitions.FeatureServiceDefinition;
using DefinitionLimits = OrleansFeatures.Core.Definitions.DefinitionLimits;
using DocumentPrescan = OrleansFeatures.Core.Definitions.DocumentPrescan;
using FeatureViewDefinition = OrleansFeatures.Core.Definitions.FeatureViewDefinition;
using OrleansFeatures.Core;
using OrleansFeatures.Core.Serving;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// The admin API over the registry grain: apply (or validate only), list and get definitions. Documents are parsed
/// and validated here, and dry runs planned here, so that (bounded) work runs on the gateway's threads and not inside
/// the registry grain's turn, where it would hold up every other registry call.
/// </summary>
[BindServiceMethod(typeof(MalformedRequestBinder.Registry), nameof(MalformedRequestBinder.Registry.BindService))]
public sealed class FeatureRegistryService(
    IGrainFactory grainFactory,
    DefinitionCatalog catalog,
    IOptions<GatewayLimits> limits) : FeatureRegistry.FeatureRegistryBase
{
    private const int ErrorsInMessage = 20;
    private const int MaxItemLength = 256;

    private IRegistryGrain Registry => grainFactory.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);

    public override async Task<ApplyDefinitionsResponse> ApplyDefinitions(ApplyDefinitionsRequest request, ServerCallContext context)
    {
        // The version check comes first: documents written against another version are not worth reading, and the
        // caller's remedy (read again, redo, retry) is the same whatever else is wrong with them (docs/security.md).
        var current = await catalog.RefreshAsync(context.CancellationToken);
        if (request.HasExpectedRegistryVersion && request.ExpectedRegistryVersion != current.Version)
        {
            throw Stale(request.ExpectedRegistryVersion, current.Version);
        }

        var documents = ValidateDocuments(request);
        if (request.ValidateOnly)
        {
            var plan = DefinitionCheck.Run(current.Set, current.Version, documents, out var proposed);
            if (proposed is not null && FeatureTypeCoverage.Uses(proposed))
            {
                // The silos' feature types are the registry's to know: a plan shows what an apply would refuse.
                var missing = FeatureTypeCoverage.Errors(proposed, await Registry.GetFeatureTypes());
                plan = missing.Count > 0 ? plan with { Errors = missing } : plan;
            }

            return ToProto(plan);
        }

        var checkedHere = DefinitionCheck.Run(current.Set, current.Version, documents, out _);
        ThrowIfInvalid(checkedHere, documents);

        long? expected = request.HasExpectedRegistryVersion ? request.ExpectedRegistryVersion : null;
        var result = await Registry.Apply(documents, dryRun: false, expected);
        if (result.VersionConflict)
        {
            throw Stale(expected!.Value, result.Version);
        }

        ThrowIfInvalid(result, documents);
        if (result.Rejections.Count > 0)
        {
            throw RpcErrors.FailedPrecondition(Describe("breaking changes rejected (bump the view's version to make them)", result.Rejections));
        }

        await catalog.EnsureAtLeastAsync(result.Version, context.CancellationToken);
        return ToProto(result);
    }

    public override async Task<GetDefinitionsResponse> GetDefinitions(GetDefinitionsRequest request, ServerCallContext context)
    {
        var snapshot = await Registry.GetSnapshot();
        var response = new GetDefinitionsResponse { RegistryVersion = snapshot.Version };
        if (snapshot.Version > 0)
        {
            response.AppliedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(snapshot.AppliedAt);
        }

        foreach (var document in snapshot.Documents)
        {
            response.Documents.Add(new DefinitionDocument { Name = document.Name, Yaml = document.Yaml });
        }

        return response;
    }

    public override async Task<ListDefinitionsResponse> ListDefinitions(ListDefinitionsRequest request, ServerCallContext context)
    {
        var definitions = await catalog.RefreshAsync(context.CancellationToken);
        var set = definitions.Set;
        var response = new ListDefinitionsResponse { RegistryVersion = definitions.Version };
        if (definitions.Version > 0)
        {
            response.AppliedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(definitions.AppliedAt);
        }

        foreach (var entity in set.EntityTypes.Values.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            response.EntityTypes.Add(new EntityTypeInfo { Name = entity.Name, KeyField = entity.KeyField });
        }

        foreach (var source in set.Sources.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            var info = new SourceInfo { Name = source.Name, TimestampField = source.TimestampField, EventIdField = source.EventIdField };
            foreach (var (field, kind) in source.Fields)
            {
                info.Fields[field] = ValueMapping.ToProto(kind);
            }

            response.Sources.Add(info);
        }

        foreach (var view in set.FeatureViews.Values.OrderBy(v => v.Name, StringComparer.Ordinal))
        {
            response.FeatureViews.Add(ToProto(view));
        }

        foreach (var service in set.FeatureServices.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            response.FeatureServices.Add(ToProto(service));
        }

        return response;
    }

    public override async Task<FeatureViewInfo> GetFeatureView(GetFeatureViewRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Name))
        {
            throw RpcErrors.InvalidArgument("name", "is required");
        }

        if (request.Name.Length > DefinitionLimits.MaxNameLength)
        {
            throw RpcErrors.InvalidArgument("name", $"is {request.Name.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
        }

        var definitions = await catalog.RefreshAsync(context.CancellationToken);
        return definitions.Set.FeatureViews.TryGetValue(request.Name, out var view)
            ? ToProto(view)
            : throw RpcErrors.NotFound($"feature view '{RpcErrors.Echo(request.Name)}' is not defined");
    }

    public override async Task<FeatureServiceInfo> GetFeatureService(GetFeatureServiceRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Name))
        {
            throw RpcErrors.InvalidArgument("name", "is required");
        }

        if (request.Name.Length > DefinitionLimits.MaxNameLength)
        {
            throw RpcErrors.InvalidArgument("name", $"is {request.Name.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
        }

        var definitions = await catalog.RefreshAsync(context.CancellationToken);
        return definitions.Set.FeatureServices.TryGetValue(request.Name, out var service)
            ? ToProto(service)
            : throw RpcErrors.NotFound($"feature service '{RpcErrors.Echo(request.Name)}' is not defined");
    }

    private List<DefinitionDocumentDto> ValidateDocuments(ApplyDefinitionsRequest request)
    {
        if (request.Documents.Count == 0)
        {
            throw RpcErrors.InvalidArgument("documents", "must hold at least one definition document");
        }

        var max = limits.Value.MaxDefinitionDocuments;
        if (request.Documents.Count > max)
        {
            throw RpcErrors.InvalidArgument("documents", $"has {request.Documents.Count} documents; the limit is {max} (FeatureStore:Limits:MaxDefinitionDocuments)");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var documents = new List<DefinitionDocumentDto>(request.Documents.Count);
        for (var i = 0; i < request.Documents.Count; i++)
        {
            var document = request.Documents[i];
            if (string.IsNullOrWhiteSpace(document.Name))
            {
                throw RpcErrors.InvalidArgument($"documents[{i}].name", "is required");
            }

            if (document.Name.Length > DefinitionLimits.MaxDocumentNameLength)
            {
                throw RpcErrors.InvalidArgument($"documents[{i}].name", $"is {document.Name.Length} characters; the limit is {DefinitionLimits.MaxDocumentNameLength}");
            }

            if (!names.Add(document.Name))
            {
                throw RpcErrors.InvalidArgument($"documents[{i}].name", $"'{RpcErrors.Echo(document.Name)}' appears twice");
            }

            // A document beyond the size, depth or node limits is a malformed request, not a definition to fix line
            // by line: refused here, before anything builds its tree.
            if (DocumentPrescan.Check(new Core.Definitions.DefinitionDocument(document.Name, document.Yaml)) is { } beyondLimits)
            {
                throw RpcErrors.InvalidArgument($"documents[{i}].yaml", beyondLimits.ToString());
            }

            documents.Add(new DefinitionDocumentDto(document.Name, document.Yaml));
        }

        return documents;
    }

    /// <summary>INVALID_ARGUMENT with one field violation per definition error, on the document it is in.</summary>
    private static void ThrowIfInvalid(RegistryApplyResult result, List<DefinitionDocumentDto> documents)
    {
        if (result.Errors.Count == 0)
        {
            return;
        }

        var violations = new ViolationList();
        foreach (var error in result.Errors)
        {
            var index = documents.FindIndex(d => string.Equals(d.Name, error.File, StringComparison.Ordinal));
            violations.Add(index < 0 ? "documents" : $"documents[{index}].yaml", EchoedText.Shorten(error.Text, MaxItemLength));
        }

        throw RpcErrors.From(violations.ToError()!);
    }

    private static RpcException Stale(long expected, long current) => RpcErrors.Aborted(
        $"the registry is at version {current}, not the expected version {expected}: read the definitions again, redo the change on them and retry with expected_registry_version {current}");

    private static string Describe(string headline, IEnumerable<string> items)
    {
        var text = new StringBuilder(headline).Append(':');
        var count = 0;
        foreach (var item in items)
        {
            if (count++ < ErrorsInMessage)
            {
                text.Append("\n  ").Append(EchoedText.Shorten(item, MaxItemLength));
            }
        }

        if (count > ErrorsInMessage)
        {
            text.Append(CultureInfo.InvariantCulture, $"\n  … and {count - ErrorsInMessage} more (validate_only lists them all)");
        }

        return text.ToString();
    }

    private static ApplyDefinitionsResponse ToProto(RegistryApplyResult result)
    {
        var response = new ApplyDefinitionsResponse { Applied = result.Applied, RegistryVersion = result.Version };
        foreach (var error in result.Errors)
        {
            response.Errors.Add(new DefinitionError
            {
                File = error.File, Line = error.Line, Column = error.Column, Field = error.Field, Message = error.Message,
            });
        }

        foreach (var change in result.Changes)
        {
            response.Changes.Add(new DefinitionChange
            {
                Kind = ToChangeKind(change.Kind),
                ObjectType = ToObjectType(change.ObjectType),
                Name = change.Name,
                Description = change.Description,
                Breaking = change.Breaking,
            });
        }

        response.Rejections.Add(result.Rejections);
        return response;
    }

    private static V1.ChangeKind ToChangeKind(string kind) => kind switch
    {
        "added" => V1.ChangeKind.Added,
        "changed" => V1.ChangeKind.Changed,
        "removed" => V1.ChangeKind.Removed,
        _ => V1.ChangeKind.Unspecified,
    };

    private static ObjectType ToObjectType(string objectType) => objectType switch
    {
        "entity" => ObjectType.EntityType,
        "source" => ObjectType.Source,
        "feature_view" => ObjectType.FeatureView,
        "feature" => ObjectType.Feature,
        "feature_service" => ObjectType.FeatureService,
        _ => ObjectType.Unspecified,
    };

    private static Aggregation ToProto(AggregationKind aggregation) => aggregation switch
    {
        AggregationKind.Latest => Aggregation.Latest,
        AggregationKind.Count => Aggregation.Count,
        AggregationKind.Sum => Aggregation.Sum,
        AggregationKind.Mean => Aggregation.Mean,
        AggregationKind.Min => Aggregation.Min,
        AggregationKind.Max => Aggregation.Max,
        AggregationKind.First => Aggregation.First,
        AggregationKind.Variance => Aggregation.Variance,
        AggregationKind.Stddev => Aggregation.Stddev,
        AggregationKind.CountDistinct => Aggregation.CountDistinct,
        AggregationKind.LastN => Aggregation.LastN,
        AggregationKind.Plugin => Aggregation.FeatureType,
        _ => Aggregation.Unspecified,
    };

    private static FeatureViewInfo ToProto(FeatureViewDefinition view)
    {
        var info = new FeatureViewInfo
        {
            Name = view.Name,
            Version = view.Version,
            EntityType = view.EntityType,
            Source = view.Source.Name,
            KeyField = view.KeyField,
            Ttl = view.Ttl is { } ttl ? ValueMapping.ToDuration(ttl) : null,
            AllowedLateness = ValueMapping.ToDuration(view.AllowedLateness),
        };
        foreach (var feature in view.Features)
        {
            info.Features.Add(new FeatureInfo
            {
                Name = feature.Name,
                Type = ValueMapping.ToProto(feature.Type, feature.ElementType),
                Aggregation = ToProto(feature.Aggregation),
                LastN = feature.LastN,
                Field = feature.Field ?? "",
                Window = feature.Window is { } window ? ValueMapping.ToDuration(window) : null,
                Tile = feature.Tile is { } tile ? ValueMapping.ToDuration(tile) : null,
                Where = feature.Where?.ToString() ?? "",
                FeatureType = feature.FeatureType ?? "",
            });
        }

        return info;
    }

    private static FeatureServiceInfo ToProto(FeatureServiceDefinition service)
    {
        var info = new FeatureServiceInfo { Name = service.Name, EntityType = service.EntityTypes.Count == 1 ? service.EntityTypes[0] : "" };
        info.EntityTypes.Add(service.EntityTypes);
        foreach (var column in service.Columns)
        {
            info.Features.Add(column.Name);
            if (column.Default is { } value)
            {
                info.Defaults[column.Name] = ValueMapping.ToProto(value);
            }

            if (column.IsRequestField)
            {
                info.RequestFields[column.Name] = ValueMapping.ToProto(column.Type);
            }

            if (column.Derived is { } derived)
            {
                var derivedInfo = new DerivedColumnInfo { Expression = derived.Expression.Text, Type = ValueMapping.ToProto(column.Type) };
                foreach (var input in derived.InputColumns)
                {
                    derivedInfo.Inputs.Add(service.Columns[input].Name);
                }

                info.Derived[column.Name] = derivedInfo;
            }

            if (column.Encoding is { } encoding)
            {
                var categories = new CategoryList();
                categories.Categories.Add(encoding.Categories);
                info.Encodings[column.Name] = categories;
            }
        }

        return info;
    }
}
