using OrleansFeatures.EndToEnd.Tests.Otlp;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// The real gateway process exporting traces over OTLP/HTTP (protobuf) to a receiver the test owns: one push is one
/// trace from the gRPC server span through the grain calls to the entity state write, and the sample ratio decides
/// whether anything is exported. A graceful stop flushes the exporter, so what was received at exit is everything.
/// </summary>
public sealed class TracingEndToEndTests
{
    private const string StateWriteSpan = "entity state write";

    [Fact]
    public async Task A_push_is_one_exported_trace_from_the_grpc_server_span_through_the_grain_call_to_the_state_write()
    {
        await using var receiver = new OtlpTraceReceiver();
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, OtlpArgs(receiver, sampleRatio: "1"));
        await gateway.StartAsync();
        await PushAndLookUpAsync(gateway);
        await gateway.StopAsync();

        var spans = receiver.Spans;
        var pushServer = Assert.Single(spans, s => s.Kind == ReceivedSpan.ServerKind && s.Name.Contains("FeatureIngestion/PushEvents", StringComparison.Ordinal));
        Assert.Null(pushServer.ParentSpanId);
        var trace = spans.Where(s => s.TraceId == pushServer.TraceId).ToDictionary(s => s.SpanId);
        var described = string.Join("\n", trace.Values);
        var write = Assert.Single(trace.Values, s => s.Name == StateWriteSpan);
        Assert.Equal("OrleansFeatures", write.Scope);

        // Parent links from the write lead, span by span, to the push's server span through the entity grain call.
        var path = new List<ReceivedSpan>();
        for (var span = write; span.ParentSpanId is { } parent; span = trace[parent])
        {
            Assert.True(trace.ContainsKey(parent), $"span {span} names parent {parent}, which was not exported in its trace:\n{described}");
            path.Add(trace[parent]);
        }

        Assert.Same(pushServer, path[^1]);
        Assert.Contains(path, s => s.Scope.StartsWith("Microsoft.Orleans", StringComparison.Ordinal) && s.Name.Contains("IEntityGrain/ApplyEvents", StringComparison.Ordinal));

        // The lookup is a trace of its own, rooted in its own server span.
        var lookupServer = Assert.Single(spans, s => s.Kind == ReceivedSpan.ServerKind && s.Name.Contains("FeatureServing/GetOnlineFeatures", StringComparison.Ordinal));
        Assert.Null(lookupServer.ParentSpanId);
        Assert.NotEqual(pushServer.TraceId, lookupServer.TraceId);
    }

    [Fact]
    public async Task With_a_sample_ratio_of_0_no_span_is_exported()
    {
        await using var receiver = new OtlpTraceReceiver();
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, OtlpArgs(receiver, sampleRatio: "0"));
        await gateway.StartAsync();
        await PushAndLookUpAsync(gateway);
        await gateway.StopAsync();

        Assert.Empty(receiver.Spans);
        Assert.Equal(0, receiver.TraceRequests);
        Assert.True(receiver.MetricRequests > 0, "the OTLP exporter never reached the receiver: the test would pass without exporting at all");
    }

    private static string[] OtlpArgs(OtlpTraceReceiver receiver, string sampleRatio) =>
    [
        $"--OTEL_EXPORTER_OTLP_ENDPOINT={receiver.Endpoint}",
        "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
        "--OTEL_BSP_SCHEDULE_DELAY=200",
        "--OTEL_METRIC_EXPORT_INTERVAL=500",
        $"--FeatureStore:Telemetry:TraceSampleRatio={sampleRatio}",
    ];

    private static async Task PushAndLookUpAsync(GatewayProcess gateway)
    {
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        var push = await client.Ingestion.PushEventsAsync(Events.Push(Events.Play("traced-1", "traced", DateTimeOffset.UtcNow.AddSeconds(-1), "golf", "view", 1)));
        Assert.Equal(EventStatus.Accepted, push.Results[0].Status);

        var lookup = new GetOnlineFeaturesRequest { EntityType = "user" };
        lookup.EntityIds.Add("traced");
        lookup.Features = new FeatureReferences { References = { "user_plays:plays_1h" } };
        var read = await client.Serving.GetOnlineFeaturesAsync(lookup);
        Assert.Equal(1, read.Entities[0].Values[0].Value.Int64Value);
    }
}
