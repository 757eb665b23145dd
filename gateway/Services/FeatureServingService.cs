using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Grpc.Core;
using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// Online lookups and inference inputs: validates the request against the registry, reads the entities (from this
/// silo's memory where they are active here, by grain calls otherwise) and applies service defaults and encodings.
/// </summary>
[BindServiceMethod(typeof(MalformedRequestBinder.Serving), nameof(MalformedRequestBinder.Serving.BindService))]
public sealed partial class FeatureServingService(
    EntityFeatureReader reader,
    DefinitionCatalog catalog,
    IOptions<GatewayLimits> limits,
    IOptions<EventLimits> keyLimits,
    TimeProvider timeProvider) : FeatureServing.FeatureServingBase
{
    /// <summary>A view name, a colon and a feature name.</summary>
    private const int MaxFeatureReferenceLength = (2 * DefinitionLimits.MaxNameLength) + 1;

    private static readonly ConditionalWeakTable<ActiveDefinitions, ConcurrentDictionary<string, Columns>> ServiceColumns = new();

    public override async Task<GetOnlineFeaturesResponse> GetOnlineFeatures(GetOnlineFeaturesRequest request, ServerCallContext context)
    {
        ValidateShape(request, limits.Value, keyLimits.Value.MaxKeyLength);
        var definitions = catalog.Current;
        Columns columns;
        try
        {
            columns = Resolve(definitions, request);
        }
        catch (RpcException notFound) when (notFound.StatusCode == StatusCode.NotFound)
        {
            // The registry may have changed through another silo since the last refresh: look once more.
            var refreshed = await catalog.RefreshAsync(context.CancellationToken);
            if (refreshed.Version == definitions.Version)
            {
                throw;
            }

            definitions = refreshed;
            columns = Resolve(definitions, request);
        }
        var nowMs = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var width = columns.Names.Length;
        var readings = new FeatureReading[request.EntityIds.Count * width];
        await reader.ReadAsync(definitions.Version, request.EntityType, request.EntityIds, columns.References, nowMs, readings);
        var response = new GetOnlineFeaturesResponse { RegistryVersion = definitions.Version };
        response.FeatureNames.Add(columns.Names);
        for (var i = 0; i < request.EntityIds.Count; i++)
        {
            var entity = new EntityFeatures { EntityId = request.EntityIds[i] };
            for (var f = 0; f < width; f++)
            {
                entity.Values.Add(ToProto(readings[(i * width) + f], columns.Defaults[f]));
            }

            response.Entities.Add(entity);
        }

        FeatureStoreMetrics.FeatureReads.Add((long)readings.Length);
        return response;
    }

    // The serving rule (present, the service's default, or not found / expired) is core's, shared with training sets.
    private static FeatureValue ToProto(FeatureReading reading, ScalarValue? fallback)
    {
        var served = ServedValue.Serve(reading, fallback);
        return new FeatureValue
        {
            Value = served.Status is ServedStatus.Present or ServedStatus.Defaulted ? ValueMapping.ToProto(served.Value) : new Value(),
            Status = served.Status switch
            {
                ServedStatus.Present => FeatureStatus.Present,
                ServedStatus.Defaulted => FeatureStatus.Defaulted,
                ServedStatus.Expired => FeatureStatus.Expired,
                _ => FeatureStatus.NotFound,
            },
            EventTime = served.EventTimeMs > 0 ? ValueMapping.ToTimestamp(served.EventTimeMs) : null,
        };
    }

    private static void ValidateShape(GetOnlineFeaturesRequest request, GatewayLimits limits, int maxKeyLength)
    {
        if (string.IsNullOrWhiteSpace(request.EntityType))
        {
            throw RpcErrors.InvalidArgument("entity_type is required");
        }

        if (request.EntityType.Length > DefinitionLimits.MaxNameLength)
        {
            throw RpcErrors.InvalidArgument($"entity_type is {request.EntityType.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
        }

        if (request.FeatureService.Length > DefinitionLimits.MaxNameLength)
        {
            throw RpcErrors.InvalidArgument($"feature_service is {request.FeatureService.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
        }

        if (request.EntityIds.Count == 0)
        {
            throw RpcErrors.InvalidArgument("entity_ids must name at least one entity");
        }

        if (request.EntityIds.Count > limits.MaxEntitiesPerRequest)
        {
            throw RpcErrors.InvalidArgument(
                $"entity_ids has {request.EntityIds.Count} ids; the limit is {limits.MaxEntitiesPerRequest} (FeatureStore:Limits:MaxEntitiesPerRequest)");
        }

        for (var i = 0; i < request.EntityIds.Count; i++)
        {
            var id = request.EntityIds[i];
            if (string.IsNullOrWhiteSpace(id))
            {
                throw RpcErrors.InvalidArgument($"entity_ids[{i}] is empty");
            }

            // The same limit ingestion applies to entity keys, so every stored entity can be looked up.
            if (id.Length > maxKeyLength)
            {
                throw RpcErrors.InvalidArgument($"entity_ids[{i}] is {id.Length} characters; the limit is {maxKeyLength} (FeatureStore:Limits:MaxKeyLength)");
            }
        }

        var hasService = !string.IsNullOrEmpty(request.FeatureService);
        if (hasService == (request.Features.Count > 0))
        {
            throw RpcErrors.InvalidArgument("set exactly one of features and feature_service");
        }

        if (request.Features.Count > limits.MaxFeaturesPerRequest)
        {
            throw RpcErrors.InvalidArgument(
                $"features has {request.Features.Count} references; the limit is {limits.MaxFeaturesPerRequest} (FeatureStore:Limits:MaxFeaturesPerRequest)");
        }

        for (var i = 0; i < request.Features.Count; i++)
        {
            if (request.Features[i].Length > MaxFeatureReferenceLength)
            {
                throw RpcErrors.InvalidArgument($"features[{i}] is {request.Features[i].Length} characters; the limit is {MaxFeatureReferenceLength}");
            }
        }
    }

    private static Columns Resolve(ActiveDefinitions definitions, GetOnlineFeaturesRequest request)
    {
        var set = definitions.Set;
        if (!set.EntityTypes.ContainsKey(request.EntityType))
        {
            throw RpcErrors.NotFound($"entity_type '{RpcErrors.Echo(request.EntityType)}' is not defined");
        }

        if (request.Features.Count == 0)
        {
            if (!set.FeatureServices.TryGetValue(request.FeatureService, out var service))
            {
                throw RpcErrors.NotFound($"feature_service '{RpcErrors.Echo(request.FeatureService)}' is not defined");
            }

            if (!service.IsSingleEntityType)
            {
                throw RpcErrors.InvalidArgument(
                    $"feature_service '{service.Name}' reads entity types {string.Join(", ", service.EntityTypes)}{(service.Features.Count < service.Columns.Count ? " and request fields" : "")}; call GetInferenceInputs for it");
            }

            if (!string.Equals(service.EntityTypes[0], request.EntityType, StringComparison.Ordinal))
            {
                throw RpcErrors.InvalidArgument(
                    $"feature_service '{service.Name}' serves entity type '{service.EntityTypes[0]}', not '{RpcErrors.Echo(request.EntityType)}'");
            }

            // A service's columns never change within one registry version, so they are built once per version.
            var cache = ServiceColumns.GetValue(definitions, static _ => new ConcurrentDictionary<string, Columns>(StringComparer.Ordinal));
            return cache.GetOrAdd(service.Name, static (_, s) => BuildColumns(s.Features, s.Defaults), service);
        }

        var references = new List<FeatureReference>(request.Features.Count);
        for (var i = 0; i < request.Features.Count; i++)
        {
            var text = request.Features[i];
            if (!FeatureReference.TryParse(text, out var reference))
            {
                throw RpcErrors.InvalidArgument($"features[{i}] '{RpcErrors.Echo(text)}' is not of the form view:feature");
            }

            if (!set.FeatureViews.TryGetValue(reference.View, out var view))
            {
                throw RpcErrors.NotFound($"features[{i}]: feature view '{RpcErrors.Echo(reference.View)}' is not defined");
            }

            if (!string.Equals(view.EntityType, request.EntityType, StringComparison.Ordinal))
            {
                throw RpcErrors.InvalidArgument(
                    $"features[{i}]: feature view '{view.Name}' belongs to entity type '{view.EntityType}', not '{RpcErrors.Echo(request.EntityType)}'");
            }

            if (view.FindFeature(reference.Feature) is null)
            {
                throw RpcErrors.NotFound($"features[{i}]: feature view '{view.Name}' has no feature '{RpcErrors.Echo(reference.Feature)}'");
            }

            references.Add(reference);
        }

        return BuildColumns(references, null);
    }

    private static Columns BuildColumns(IReadOnlyList<FeatureReference> references, IReadOnlyDictionary<FeatureReference, ScalarValue>? defaults)
    {
        var views = new string[references.Count];
        var features = new string[references.Count];
        var names = new string[references.Count];
        var fallbacks = new ScalarValue?[references.Count];
        for (var i = 0; i < references.Count; i++)
        {
            views[i] = references[i].View;
            features[i] = references[i].Feature;
            names[i] = references[i].ToString();
            if (defaults is not null && defaults.TryGetValue(references[i], out var fallback))
            {
                fallbacks[i] = fallback;
            }
        }

        return new Columns(new FeatureRefList(views, features), names, fallbacks);
    }
}

/// <summary>The resolved columns of a lookup: what to ask each grain for, what to call it, and what to default it to.</summary>
public sealed record Columns(FeatureRefList References, string[] Names, ScalarValue?[] Defaults);
