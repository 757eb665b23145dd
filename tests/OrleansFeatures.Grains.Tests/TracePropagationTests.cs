using System.Collections.Concurrent;
using System.Diagnostics;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Tests;

public class TracePropagationTests
{
    [Fact]
    public async Task A_callers_trace_reaches_the_grain_call_and_the_entity_state_write_it_causes()
    {
        using var caller = new ActivitySource("OrleansFeatures.Tests.Caller");
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal) || source.Name == FeatureStoreTracing.SourceName || source == caller,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);
        await using var cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var version = await TestDefinitions.ApplyAsync(cluster.Client);
        var grain = cluster.Client.GetGrain<IEntityGrain>(EntityKey.Format("user", "traced"));

        ActivityTraceId trace;
        using (var request = caller.StartActivity("push"))
        {
            trace = request!.TraceId;
            await grain.ApplyEvents(version, TestDefinitions.Source, [TestDefinitions.Click("t1", DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), "click", 1.0)]);
        }

        var inTrace = spans.Where(s => s.TraceId == trace).ToList();
        var seen = string.Join(", ", inTrace.Select(s => $"{s.Source.Name}: {s.DisplayName}"));
        Assert.True(inTrace.Any(s => s.Source.Name == "Microsoft.Orleans.Runtime" && s.DisplayName.Contains("IEntityGrain/ApplyEvents", StringComparison.Ordinal)), $"no grain call span in the trace: {seen}");
        Assert.True(inTrace.Any(s => s.Source.Name == FeatureStoreTracing.SourceName && s.DisplayName == "entity state write"), $"no state write span in the trace: {seen}");
    }
}
