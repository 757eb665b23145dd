using System.Buffers;
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
        var count = request.EntityIds.Count * columns.Count;
        var readCount = request.EntityIds.Count * columns.ReadWidth;
        // Pooled: a reading holds no more than the request does, and is mapped to the wire before this returns.
        var readings = ArrayPool<FeatureReading>.Shared.Rent(readCount);
        var answered = columns.HasDerivedColumns ? ArrayPool<FeatureReading>.Shared.Rent(count) : readings;
        try
        {
            var stale = await reader.ReadAsync(definitions.Version, columns.EntityType, request.EntityIds, new FeatureRefList(columns.Views, columns.Features), nowMs, readings);
            FeatureStoreMetrics.FeatureReads.Add(readCount);
            if (stale is not null)
            {
                FeatureStoreMetrics.StaleAnswers.Add(1, new KeyValuePair<string, object?>("rpc", "GetOnlineFeatures"));
            }

            if (columns.HasDerivedColumns)
            {
                // The service's derived columns, from the readings as served: core's one rule, as inference inputs and training sets.
                columns.Derive(readings.AsSpan(0, readCount), answered, request.EntityIds.Count);
            }

            return IsGrpc(context)
                ? LookupResponseEncoder.Encode(columns.Names, columns.Defaults, request.EntityIds, answered.AsSpan(0, count), stale, definitions.Version, nowMs)
                : ToMessage(columns.Names, columns.Defaults, request.EntityIds, answered, stale, definitions.Version, nowMs);
        }
        finally
        {
            ArrayPool<FeatureReading>.Shared.Return(readings, clearArray: true);
            if (!ReferenceEquals(answered, readings))
            {
                ArrayPool<FeatureReading>.Shared.Return(answered, clearArray: true);
            }
        }
    }

    // gRPC (and gRPC-Web) answers go through the response marshaller, which writes an encoded answer; HTTP/JSON
    // formats the message's fields, so it gets the message.
    private static bool IsGrpc(ServerCallContext context) =>
        context.GetHttpContext().Request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary>The answer as a message (HTTP/JSON); its wire form is what <see cref="LookupResponseEncoder"/> writes.</summary>
    internal static GetOnlineFeaturesResponse ToMessage(string[] names, ScalarValue?[] defaults, IReadOnlyList<string> ids, FeatureReading[] readings, bool[]? stale, long version, long nowMs)
    {
        var width = names.Length;
        var response = new GetOnlineFeaturesResponse { RegistryVersion = version, EvaluatedAt = ValueMapping.ToTimestamp(nowMs) };
        response.FeatureNames.Add(names);
        for (var i = 0; i < ids.Count; i++)
        {
            var entity = new EntityFeatures { EntityId = ids[i], Stale = stale is not null && stale[i] };
            for (var f = 0; f < width; f++)
            {
                entity.Values.Add(ToProto(ServedValue.Serve(readings[(i * width) + f], defaults[f])));
            }

            response.Entities.Add(entity);
        }

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
