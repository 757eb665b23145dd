using System.Diagnostics;
using System.Globalization;
using OrleansFeatures.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

/// <summary>
/// Memory over time under a steady mixed load: lookups and pushes together at ~80% of what the gateway sustained
/// for that mix in a calibration phase of the same run. Prints the gateway's resident memory every 10 s, then again
/// after the load stops, so growth that is not released shows.
/// </summary>
internal static class SoakBenchmark
{
    private const string Source = EngagementEvents.Source;

    public static async Task RunAsync(string[] args)
    {
        var minutes = 10.0;
        var users = 10_000;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--minutes") minutes = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--users") users = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        using var temp = new TempDirectory("orleansfeatures-bench-soak");
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = BenchClient.For(gateway.GrpcAddress);
        await new FeatureRegistry.FeatureRegistryClient(client.CallInvoker).ApplyDefinitionsAsync(await ExampleDefinitions.RequestAsync());
        var load = new MixedLoad(client, client, users);
        for (var seeded = 0; seeded < users; seeded += 1_000)
        {
            await load.PushAsync(CancellationToken.None);
        }

        Console.WriteLine($"soak: {users} users, gateway RSS after seeding {Mib(gateway.ResidentBytes)} MiB");
        var (lookupRate, pushRate) = await load.CalibrateAsync(TimeSpan.FromSeconds(15));
        Console.WriteLine($"calibration (full speed, 16 lookup + 2 push workers): {lookupRate:0} lookups/s, {pushRate:0} pushes/s of 100 events; soak at 80%");

        // Rows count from here: the seeding and calibration calls are not part of the soak's rates.
        var (lastLookups, lastPushes) = (Interlocked.Read(ref load.Lookups), Interlocked.Read(ref load.Pushes));
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(minutes));
        var running = load.RunPacedAsync(lookupRate * 0.8, pushRate * 0.8, stop.Token);
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"{"t s",6} {"RSS MiB",8} {"lookups/s",10} {"pushes/s",9} {"errors",7}");
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(10), stop.Token);
            }
            catch (OperationCanceledException)
            {
            }

            var (lookups, pushes) = (Interlocked.Read(ref load.Lookups), Interlocked.Read(ref load.Pushes));
            Console.WriteLine($"{clock.Elapsed.TotalSeconds,6:0} {Mib(gateway.ResidentBytes),8} {(lookups - lastLookups) / 10.0,10:0} {(pushes - lastPushes) / 10.0,9:0} {Interlocked.Read(ref load.Errors),7}");
            (lastLookups, lastPushes) = (lookups, pushes);
        }

        await running;
        await Task.Delay(TimeSpan.FromSeconds(30));
        Console.WriteLine($"30 s after the load stopped: RSS {Mib(gateway.ResidentBytes)} MiB, peak {Mib(gateway.PeakWorkingSetBytes)} MiB, {load.Errors} failed calls in all");
    }

    private static long Mib(long bytes) => bytes / (1024 * 1024);

    private sealed class MixedLoad(FeatureStoreClient ingestion, FeatureStoreClient serving, int users)
    {
        public long Lookups;
        public long Pushes;
        public long Errors;
        private long _next;

        public async Task PushAsync(CancellationToken cancellationToken)
        {
            var push = new PushEventsRequest { Source = Source };
            var now = DateTimeOffset.UtcNow;
            for (var j = 0; j < 100; j++)
            {
                var id = Interlocked.Increment(ref _next);
                push.Events.Add(EngagementEvents.View("s", id, $"u{id % users}", $"c{id % 500}", now));
            }

            await ingestion.PushEventsAsync(push, cancellationToken: cancellationToken);
            Interlocked.Increment(ref Pushes);
        }

        public async Task LookupAsync(CancellationToken cancellationToken)
        {
            var request = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "ranker_v3" };
            request.EntityIds.Add($"u{Random.Shared.Next(users)}");
            await serving.GetOnlineFeaturesAsync(request, cancellationToken: cancellationToken);
            Interlocked.Increment(ref Lookups);
        }

        public async Task<(double Lookups, double Pushes)> CalibrateAsync(TimeSpan duration)
        {
            var (lookups, pushes) = (Lookups, Pushes);
            using var stop = new CancellationTokenSource(duration);
            var workers = Enumerable.Range(0, 16).Select(_ => LoopAsync(LookupAsync, 0, stop.Token))
                .Concat(Enumerable.Range(0, 2).Select(_ => LoopAsync(PushAsync, 0, stop.Token)));
            await Task.WhenAll(workers);
            return ((Lookups - lookups) / duration.TotalSeconds, (Pushes - pushes) / duration.TotalSeconds);
        }

        public Task RunPacedAsync(double lookupsPerSecond, double pushesPerSecond, CancellationToken cancellationToken) =>
            Task.WhenAll(Enumerable.Range(0, 16).Select(_ => LoopAsync(LookupAsync, lookupsPerSecond / 16, cancellationToken))
                .Concat(Enumerable.Range(0, 2).Select(_ => LoopAsync(PushAsync, pushesPerSecond / 2, cancellationToken))));

        // Calls back to back (rate 0) or paced to a rate per worker, until cancelled; failures are counted, not fatal.
        private async Task LoopAsync(Func<CancellationToken, Task> call, double rate, CancellationToken cancellationToken)
        {
            var started = Stopwatch.StartNew();
            for (long n = 0; !cancellationToken.IsCancellationRequested; n++)
            {
                try
                {
                    await call(cancellationToken);
                }
                catch (Exception) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref Errors);
                }

                if (rate > 0 && TimeSpan.FromSeconds((n + 1) / rate) - started.Elapsed is { Ticks: > 0 } ahead)
                {
                    try
                    {
                        await Task.Delay(ahead, cancellationToken);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            }
        }
    }
}
