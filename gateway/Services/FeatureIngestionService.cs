using Grpc.Core;
using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Services;

/// <summary>The push API: validates the batch shape, then hands every event to the shared ingestion path.</summary>
[BindServiceMethod(typeof(MalformedRequestBinder.Ingestion), nameof(MalformedRequestBinder.Ingestion.BindService))]
public sealed class FeatureIngestionService(EventRouter router, IOptions<GatewayLimits> limits, AzureStorageProbe? storage = null) : FeatureIngestion.FeatureIngestionBase
{
    public override async Task<PushEventsResponse> PushEvents(PushEventsRequest request, ServerCallContext context)
    {
        if (string.IsNullOrWhiteSpace(request.Source))
        {
            throw RpcErrors.InvalidArgument("source", "is required");
        }

        if (request.Events.Count == 0)
        {
            throw RpcErrors.InvalidArgument("events", "must hold at least one event");
        }

        var max = limits.Value.MaxEventsPerPush;
        if (request.Events.Count > max)
        {
            throw RpcErrors.InvalidArgument("events", $"has {request.Events.Count} events; the limit is {max} (FeatureStore:Limits:MaxEventsPerPush)");
        }

        // Remote grain storage that the last health probe could not reach: refuse the whole push with a status clients
        // retry, rather than time out entity by entity and answer FAILED for every event.
        if (storage is { LastReachable: false })
        {
            throw RpcErrors.Unavailable("grain storage is unreachable; retry (this silo reports not ready until it returns)");
        }

        // An event whose event_time is not a valid Timestamp, or with a field name no source may declare, goes to the
        // router refused: it answers REJECTED with the reason and counts it with the others.
        var raw = new RawEvent[request.Events.Count];
        for (var i = 0; i < raw.Length; i++)
        {
            raw[i] = ToRawEvent(request.Events[i]);
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
                RoutedEventStatus.UnknownOutcome => EventStatus.UnknownOutcome,
                _ => EventStatus.Failed,
            };
            switch (status)
            {
                case EventStatus.Accepted: response.Accepted++; break;
                case EventStatus.Duplicate: response.Duplicates++; break;
                case EventStatus.Late: response.Late++; break;
                case EventStatus.Rejected: response.Rejected++; break;
                case EventStatus.UnknownOutcome: response.UnknownOutcome++; break;
                default: response.Failed++; break;
            }

            response.Results.Add(new EventResult { Index = i, Status = status, Reason = result.Reason ?? "" });
        }

        return response;
    }

    private static RawEvent ToRawEvent(Event proto)
    {
        long? timestampMs = null;
        if (proto.EventTime is { } time)
        {
            if (!EventAdmission.TryConvertTimestamp(time.Seconds, time.Nanos, out var ms, out var refused))
            {
                return new RawEvent(null, null, NoFields, refused);
            }

            timestampMs = ms;
        }

        var fields = new Dictionary<string, ScalarValue>(proto.Fields.Count, StringComparer.Ordinal);
        foreach (var (name, value) in proto.Fields)
        {
            // A field name longer than any definition may declare cannot be a field of the source.
            if (name.Length > DefinitionLimits.MaxNameLength)
            {
                return new RawEvent(null, null, NoFields, $"event '{RpcErrors.Echo(proto.EventId)}': a field name is {name.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
            }

            fields[name] = ValueMapping.FromProto(value);
        }

        return new RawEvent(string.IsNullOrEmpty(proto.EventId) ? null : proto.EventId, timestampMs, fields);
    }

    private static readonly IReadOnlyDictionary<string, ScalarValue> NoFields = new Dictionary<string, ScalarValue>();
}
