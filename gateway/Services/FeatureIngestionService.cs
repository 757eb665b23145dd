using Grpc.Core;
using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Services;

/// <summary>The push API: validates the batch shape, then hands every event to the shared ingestion path.</summary>
[BindServiceMethod(typeof(MalformedRequestBinder), nameof(MalformedRequestBinder.BindService))]
public sealed class FeatureIngestionService(EventRouter router, IOptions<GatewayLimits> limits) : FeatureIngestion.FeatureIngestionBase
{
    public override async Task<PushEventsResponse> PushEvents(PushEventsRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Source))
        {
            throw RpcErrors.InvalidArgument("source is required");
        }

        if (request.Events.Count == 0)
        {
            throw RpcErrors.InvalidArgument("events must hold at least one event");
        }

        var max = limits.Value.MaxEventsPerPush;
        if (request.Events.Count > max)
        {
            throw RpcErrors.InvalidArgument($"events has {request.Events.Count} events; the limit is {max} (FeatureStore:Limits:MaxEventsPerPush)");
        }

        var raw = new RawEvent[request.Events.Count];
        for (var i = 0; i < raw.Length; i++)
        {
            var proto = request.Events[i];
            var fields = new Dictionary<string, ScalarValue>(proto.Fields.Count, StringComparer.Ordinal);
            foreach (var (name, value) in proto.Fields)
            {
                fields[name] = ValueMapping.FromProto(value);
            }

            raw[i] = new RawEvent(
                string.IsNullOrEmpty(proto.EventId) ? null : proto.EventId,
                proto.EventTime is null ? null : ValueMapping.ToUnixMs(proto.EventTime),
                fields);
        }

        RoutedEventResult[] results;
        try
        {
            results = await router.RouteAsync(request.Source, raw, context.CancellationToken);
        }
        catch (UnknownSourceException unknown)
        {
            throw RpcErrors.NotFound($"source '{RpcErrors.Echo(unknown.SourceName)}' is not defined in the registry");
        }

        var response = new PushEventsResponse();
        for (var i = 0; i < results.Length; i++)
        {
            var result = results[i];
            var status = result.Status switch
            {
                RoutedEventStatus.Accepted => EventStatus.Accepted,
                RoutedEventStatus.Duplicate => EventStatus.Duplicate,
                RoutedEventStatus.Late => EventStatus.Late,
                RoutedEventStatus.Rejected => EventStatus.Rejected,
                _ => EventStatus.Failed,
            };
            switch (status)
            {
                case EventStatus.Accepted: response.Accepted++; break;
                case EventStatus.Duplicate: response.Duplicates++; break;
                case EventStatus.Late: response.Late++; break;
                case EventStatus.Rejected: response.Rejected++; break;
                default: response.Failed++; break;
            }

            response.Results.Add(new EventResult { Index = i, Status = status, Reason = result.Reason ?? "" });
        }

        return response;
    }
}
