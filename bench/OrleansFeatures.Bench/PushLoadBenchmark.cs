using System.Diagnostics;
using System.Globalization;
using OrleansFeatures.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

/// <summary>
/// What one entity grain call costs when it does not come through a stream: PushEvents (Direct mode) groups a
/// request's events per entity and calls each entity grain once (apply, then one state write), as a stream
/// delivery does. Two request shapes, one event per entity and ten per entity, in the same run; the gateway's
/// CPU for each gives the cost per grain call and per event by a two-point fit, to set against the stream path's
/// (docs/decisions/005-ingestion-cost-per-entity-delivery.md).
/// </summary>
internal static class PushLoadBenchmark
{
    private const string Source = EngagementEvents.Source;

    public static async Task RunAsync(string[] args)
    {
        var users = 10_000;
        var requests = 200;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--users") users = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--requests") requests = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        using var temp = new TempDirectory("orleansfeatures-bench-push");
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var ingestion = BenchClient.For(gateway.GrpcAddress);
        await new FeatureRegistry.FeatureRegistryClient(ingestion.CallInvoker).ApplyDefinitionsAsync(await ExampleDefinitions.RequestAsync());

        // Every entity active and stored before anything is measured, and the paths compiled.
        var next = 0;
        var seeded = await RunShapeAsync(ingestion, gateway, users, requests: (users / 1_000) + 20, eventsPerEntity: 1, () => next++);
        Console.WriteLine($"seeded {seeded.Events} events onto {users} users");

        // Alternating rounds of the two shapes, so machine noise falls on both alike.
        var one = new Totals();
        var ten = new Totals();
        for (var round = 0; round < 4; round++)
        {
            one.Add(await RunShapeAsync(ingestion, gateway, users, requests / 4, eventsPerEntity: 1, () => next++));
            ten.Add(await RunShapeAsync(ingestion, gateway, users, requests / 4, eventsPerEntity: 10, () => next++));
        }

        // cpu = calls * perCall + events * perEvent, for both shapes.
        var determinant = (one.Calls * ten.Events) - (ten.Calls * one.Events);
        var perCall = ((one.CpuSeconds * ten.Events) - (ten.CpuSeconds * one.Events)) / determinant;
        var perEvent = ((one.Calls * ten.CpuSeconds) - (ten.Calls * one.CpuSeconds)) / determinant;
        Console.WriteLine();
        Console.WriteLine($"PushEvents (Direct), 1,000 events per request, {users} users + 500 content items, {Environment.ProcessorCount} cores");
        Console.WriteLine($"  1 event per entity per request:   {one.Events / one.Seconds,9:0} events/s   gateway CPU {one.CpuSeconds * 1e6 / one.Calls,6:0.0} us per entity call ({one.Calls} calls)");
        Console.WriteLine($"  10 events per entity per request: {ten.Events / ten.Seconds,9:0} events/s   gateway CPU {ten.CpuSeconds * 1e6 / ten.Calls,6:0.0} us per entity call ({ten.Calls} calls)");
        Console.WriteLine($"  fit: {perCall * 1e6:0.0} us per entity grain call + {perEvent * 1e6:0.0} us per event (each event feeds a user and a content item)");
    }

    // Requests of 1,000 events; each event's user comes from next() spread so that a request holds eventsPerEntity
    // events for each of its users. Two requests in flight, so the gateway stays busy.
    internal static async Task<Totals> RunShapeAsync(FeatureStoreClient ingestion, GatewayProcess gateway, int users, int requests, int eventsPerEntity, Func<int> next)
    {
        const int perRequest = 1_000;
        var totals = new Totals();
        var cpuBefore = gateway.CpuTime;
        var clock = Stopwatch.StartNew();
        var now = DateTimeOffset.UtcNow;
        var inFlight = new List<Task<PushEventsResponse>>();
        for (var r = 0; r < requests; r++)
        {
            var push = new PushEventsRequest { Source = Source };
            var firstUser = next() * (perRequest / eventsPerEntity);
            var entities = new HashSet<string>();
            for (var j = 0; j < perRequest; j++)
            {
                var id = next();
                var user = $"u{(firstUser + (j / eventsPerEntity)) % users}";
                var content = $"c{id % 500}";
                entities.Add(user);
                entities.Add(content);
                push.Events.Add(EngagementEvents.View("p", id, user, content, now));
            }

            totals.Calls += entities.Count;
            totals.Events += perRequest;
            inFlight.Add(ingestion.PushEventsAsync(push));
            if (inFlight.Count == 2)
            {
                await CheckAsync(inFlight[0], perRequest);
                inFlight.RemoveAt(0);
            }
        }

        foreach (var call in inFlight)
        {
            await CheckAsync(call, perRequest);
        }

        totals.Seconds = clock.Elapsed.TotalSeconds;
        totals.CpuSeconds = (gateway.CpuTime - cpuBefore).TotalSeconds;
        return totals;
    }

    private static async Task CheckAsync(Task<PushEventsResponse> call, int events)
    {
        var response = await call;
        if (response.Accepted != events)
        {
            throw new InvalidOperationException($"{response.Accepted} of {events} accepted; first reason: {response.Results.FirstOrDefault(r => r.Reason.Length > 0)?.Reason}");
        }
    }

    internal sealed class Totals
    {
        public long Calls { get; set; }

        public long Events { get; set; }

        public double Seconds { get; set; }

        public double CpuSeconds { get; set; }

        public void Add(Totals other)
        {
            Calls += other.Calls;
            Events += other.Events;
            Seconds += other.Seconds;
            CpuSeconds += other.CpuSeconds;
        }
    }
}
