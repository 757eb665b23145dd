using Grpc.Core;
using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Serving;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.Grains.Serving;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// Online lookups and inference inputs: maps the request to core's <see cref="LookupPlan"/> of the current registry
/// version, reads the entities (from this silo's memory where they are active here, by grain calls otherwise) and
/// maps the served values back to the wire.
/// </summary>
[BindServiceMethod(typeof(MalformedRequestBinder.Serving), nameof(MalformedRequestBinder.Serving.BindService))]
public sealed partial class FeatureServingService(
    EntityFeatureReader reader,
    DefinitionCatalog catalog,
    IOptions<GatewayLimits> limits,
    IOptions<EventLimits> keyLimits,
    TimeProvider timeProvider) : FeatureServing.FeatureServingBase
{
    private LookupLimits? _lookupLimits;

    private LookupLimits Limits => _lookupLimits ??= new LookupLimits(
        limits.Value.MaxEntitiesPerRequest, limits.Value.MaxFeaturesPerRequest, keyLimits.Value.MaxKeyLength);

    public override async Task<GetOnlineFeaturesResponse> GetOnlineFeatures(GetOnlineFeaturesRequest request, ServerCallContext context)
    {
        var lookup = new LookupRequest(
            request.EntityType,
            request.EntityIds,
            request.SelectionCase == GetOnlineFeaturesRequest.SelectionOneofCase.Features ? request.Features.References : null,
            request.SelectionCase == GetOnlineFeaturesRequest.SelectionOneofCase.FeatureService ? request.FeatureService : null);
        var definitions = catalog.Current;
        var columns = definitions.Lookups.Resolve(lookup, Limits, out var error);
        if (error is { Kind: RequestErrorKind.NotFound })
        {
            // The registry may have changed through another silo since the last refresh: look once more.
            var refreshed = await catalog.RefreshAsync(context.CancellationToken);
            if (refreshed.Version != definitions.Version)
            {
                definitions = refreshed;
                columns = definitions.Lookups.Resolve(lookup, Limits, out error);
            }
        }

        if (columns is null)
        {
            throw RpcErrors.From(error!);
        }

        var nowMs = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var width = columns.Count;
        var readings = new FeatureReading[request.EntityIds.Count * width];
        await reader.ReadAsync(definitions.Version, columns.EntityType, request.EntityIds, new FeatureRefList(columns.Views, columns.Features), nowMs, readings);
        var response = new GetOnlineFeaturesResponse { RegistryVersion = definitions.Version, EvaluatedAt = ValueMapping.ToTimestamp(nowMs) };
        response.FeatureNames.Add(columns.Names);
        for (var i = 0; i < request.EntityIds.Count; i++)
        {
            var entity = new EntityFeatures { EntityId = request.EntityIds[i] };
            for (var f = 0; f < width; f++)
            {
                entity.Values.Add(ToProto(ServedValue.Serve(readings[(i * width) + f], columns.Defaults[f])));
            }

            response.Entities.Add(entity);
        }

        FeatureStoreMetrics.FeatureReads.Add((long)readings.Length);
        return response;
    }

    // The serving rule (present, the service's default, or not found / expired; event time only when present) is
    // core's ServedValue, shared with training sets; this only maps it.
    private static FeatureValue ToProto(ServedValue served) => new()
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
