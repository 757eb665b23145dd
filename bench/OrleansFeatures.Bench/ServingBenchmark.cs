using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Grpc.Health.V1;
using OrleansFeatures.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using StackExchange.Redis;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

/// <summary>
/// Serving at fixed rates and at saturation: single lookups and 1/100/500-row inference inputs of 20 features, against
/// a no-op call through the same gateway (the floor) and the same API served from a real redis-server (one HGETALL
/// per entity, pipelined) by its own process. Prints one table and the ratios.
/// </summary>
internal static class ServingBenchmark
{
    internal const int Items = 5_000;
    internal const int Users = 500;

    public static async Task RunAsync(string[] args)
    {
        var seconds = Option(args, "--seconds", 5);
        var duration = TimeSpan.FromSeconds(seconds);
        var warmup = TimeSpan.FromSeconds(Math.Max(1, seconds / 3));
        using var temp = new TempDirectory("orleansfeatures-serving-bench");
        // Any --FeatureStore:... argument goes to the gateway (e.g. --FeatureStore:Serving:LocalReads=false).
        await using var gateway = new GatewayProcess(temp.Path, [.. args.Where(a => a.StartsWith("--FeatureStore:", StringComparison.Ordinal))]);
        Console.WriteLine($"starting gateway ({GatewayProcess.GatewayDll}) and redis-server");
        await gateway.StartAsync();
        await using var redisServer = await RedisServer.StartAsync();
        using var serving = BenchClient.For(gateway.GrpcAddress);
        var health = new Health.HealthClient(serving.CallInvoker);
        await new FeatureRegistry.FeatureRegistryClient(serving.CallInvoker).ApplyDefinitionsAsync(ServingDefinitions.Request());
        await SeedAsync(serving);
        await CopyToRedisAsync(serving, redisServer.Endpoint);

        var baselinePort = FreePort.Next();
        using var baseline = StartBaselineServer(baselinePort, redisServer.Endpoint);
        try
        {
            await WaitForPortAsync(baselinePort);
            using var redisServing = BenchClient.For(new Uri($"http://127.0.0.1:{baselinePort}"));
            var lookups = LookupRequests();
            var inference1 = InferenceRequests(1);
            var inference100 = InferenceRequests(100);
            var inference500 = InferenceRequests(500);
            var hot = new GetOnlineFeaturesRequest { EntityType = "item", FeatureService = ServingDefinitions.ItemService, EntityIds = { "i7" } };
            var noopRequest = new HealthCheckRequest();
            Func<int, Task> noop = async _ => await health.CheckAsync(noopRequest);
            Func<int, Task> Lookup(FeatureStoreClient client) => async i => await client.GetOnlineFeaturesAsync(lookups[i % lookups.Length]);
            Func<int, Task> Inference(FeatureStoreClient client, GetInferenceInputsRequest[] requests) =>
                async i => await client.GetInferenceInputsAsync(requests[i % requests.Length]);

            // Correctness before speed: both servers answer the same matrix for the same request.
            await CheckSameAnswerAsync(serving, redisServing, inference100[0]);

            var phases = new List<Phase>
            {
                new("no-op (grpc.health Check), gateway", null, noop, Rate: 5_000, Concurrency: 64, Gateway: true),
                new("lookup 1 x 20, gateway", "no-op", Lookup(serving), Rate: 5_000, Concurrency: 64, Gateway: true),
                new("lookup 1 x 20, redis", null, Lookup(redisServing), Rate: 5_000, Concurrency: 64, Gateway: false),
                new("lookup 1 x 20, one hot item, gateway", null, async _ => await serving.GetOnlineFeaturesAsync(hot), Rate: 5_000, Concurrency: 64, Gateway: true),
                new("inference 1 row x 20, gateway", null, Inference(serving, inference1), Rate: 2_000, Concurrency: 32, Gateway: true),
                new("inference 1 row x 20, redis", null, Inference(redisServing, inference1), Rate: 2_000, Concurrency: 32, Gateway: false),
                new("inference 100 rows x 20, gateway", null, Inference(serving, inference100), Rate: 200, Concurrency: 8, Gateway: true),
                new("inference 100 rows x 20, redis", null, Inference(redisServing, inference100), Rate: 200, Concurrency: 8, Gateway: false),
                new("inference 500 rows x 20, gateway", null, Inference(serving, inference500), Rate: 50, Concurrency: 4, Gateway: true),
                new("inference 500 rows x 20, redis", null, Inference(redisServing, inference500), Rate: 50, Concurrency: 4, Gateway: false),
            };

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.HttpPort}") };
            var rows = new List<Row>();
            TimeSpan ServerCpu(bool ours) => ours ? gateway.CpuTime : CpuOf(baseline) + redisServer.CpuTime;
            foreach (var phase in phases)
            {
                await LoadRunner.ClosedAsync(phase.Call, Math.Min(8, phase.Concurrency), warmup);
                foreach (var (mode, run) in new (string, Func<Task<LoadResult>>)[]
                {
                    ($"{phase.Rate}/s", () => LoadRunner.OpenAsync(phase.Call, phase.Rate, duration)),
                    ($"sat c={phase.Concurrency}", () => LoadRunner.ClosedAsync(phase.Call, phase.Concurrency, duration)),
                })
                {
                    var before = phase.Gateway ? await AllocatedBytesAsync(http) : 0;
                    var cpuBefore = ServerCpu(phase.Gateway);
                    var result = await run();
                    var calls = Math.Max(1, result.Calls);
                    var cpuPerCall = (ServerCpu(phase.Gateway) - cpuBefore).TotalMicroseconds / calls;
                    double? perCall = phase.Gateway ? (await AllocatedBytesAsync(http) - before) / (double)calls : null;
                    rows.Add(new Row(phase.Name, mode, result, cpuPerCall, perCall));
                    Console.WriteLine($"  {phase.Name,-40} {mode,-10} done: {result.CallsPerSecond:0}/s, p99 {result.Milliseconds(99):0.000} ms{(result.Errors > 0 ? $", {result.Errors} errors" : "")}");
                }
            }

            Print(rows, seconds);
        }
        finally
        {
            if (!baseline.HasExited)
            {
                baseline.Kill();
                await baseline.WaitForExitAsync();
            }
        }
    }

    private sealed record Phase(string Name, string? Note, Func<int, Task> Call, int Rate, int Concurrency, bool Gateway);

    /// <summary>One measured load: server CPU per call is the gateway's, or the baseline server's plus redis-server's.</summary>
    private sealed record Row(string Name, string Mode, LoadResult Result, double ServerCpuMicrosPerCall, double? AllocatedPerCall);

    private static TimeSpan CpuOf(Process process)
    {
        process.Refresh();
        return process.HasExited ? TimeSpan.Zero : process.TotalProcessorTime;
    }

    private static void Print(List<Row> rows, int seconds)
    {
        Console.WriteLine();
        Console.WriteLine($"serving on loopback, {seconds} s per row, client (this process), gateway and the Redis baseline's server and redis-server on the same {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"call",-40} {"load",-10} {"p50 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"calls/s",9} {"errors",7} {"server CPU us/call",19} {"KB alloc/call",14}");
        foreach (var (name, mode, result, cpu, allocated) in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-40} {mode,-10} {result.Milliseconds(50),8:0.000} {result.Milliseconds(99),8:0.000} {result.Milliseconds(99.9),9:0.000} {result.CallsPerSecond,9:0} {result.Errors,7} {cpu,19:0} {(allocated is { } a ? (a / 1024).ToString("0.0", CultureInfo.InvariantCulture) : "n/a"),14}"));
        }

        LoadResult Saturated(string name) => rows.First(r => r.Name == name && r.Mode.StartsWith("sat", StringComparison.Ordinal)).Result;
        LoadResult Fixed(string name) => rows.First(r => r.Name == name && !r.Mode.StartsWith("sat", StringComparison.Ordinal)).Result;
        Console.WriteLine();
        Console.WriteLine("ratios (saturation throughput) and targets:");
        var floor = Saturated("no-op (grpc.health Check), gateway").CallsPerSecond;
        Line("lookup / no-op floor", Saturated("lookup 1 x 20, gateway").CallsPerSecond / floor, ">= 0.67");
        Line("lookup gateway / redis", Saturated("lookup 1 x 20, gateway").CallsPerSecond / Saturated("lookup 1 x 20, redis").CallsPerSecond, ">= 1");
        Line("hot-key lookup / spread lookup", Saturated("lookup 1 x 20, one hot item, gateway").CallsPerSecond / Saturated("lookup 1 x 20, gateway").CallsPerSecond, "~1");
        foreach (var n in new[] { 1, 100, 500 })
        {
            var rowsName = n == 1 ? "1 row" : $"{n} rows";
            Line($"inference {rowsName} gateway / redis", Saturated($"inference {rowsName} x 20, gateway").CallsPerSecond / Saturated($"inference {rowsName} x 20, redis").CallsPerSecond, n == 100 ? ">= 2" : "");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  lookup p99 at 5,000/s: {Fixed("lookup 1 x 20, gateway").Milliseconds(99):0.000} ms (target < 1; no-op at the same rate {Fixed("no-op (grpc.health Check), gateway").Milliseconds(99):0.000} ms)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  100 rows p99 at 200/s: {Fixed("inference 100 rows x 20, gateway").Milliseconds(99):0.000} ms (target < 3); 500 rows p99 at 50/s: {Fixed("inference 500 rows x 20, gateway").Milliseconds(99):0.000} ms (target < 10)"));

        static void Line(string what, double ratio, string target) =>
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {what,-40} {ratio,6:0.00}x {(target.Length > 0 ? "(target " + target + ")" : "")}"));
    }

    internal static GetOnlineFeaturesRequest[] LookupRequests()
    {
        var requests = new GetOnlineFeaturesRequest[Items];
        var order = Shuffled(Items, 11);
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i] = new GetOnlineFeaturesRequest { EntityType = "item", FeatureService = ServingDefinitions.ItemService, EntityIds = { $"i{order[i]}" } };
        }

        return requests;
    }

    /// <summary>64 requests of one user and <paramref name="rows"/> distinct items each.</summary>
    internal static GetInferenceInputsRequest[] InferenceRequests(int rows)
    {
        var random = new Random(rows);
        var order = Shuffled(Items, rows + 1);
        var requests = new GetInferenceInputsRequest[64];
        for (var r = 0; r < requests.Length; r++)
        {
            var items = new EntityKeyColumn { EntityType = "item" };
            var offset = random.Next(Items);
            for (var i = 0; i < rows; i++)
            {
                items.Ids.Add($"i{order[(offset + i) % Items]}");
            }

            requests[r] = new GetInferenceInputsRequest
            {
                FeatureService = ServingDefinitions.RankerService,
                Entities = { new EntityKeyColumn { EntityType = "user", Ids = { $"u{random.Next(Users)}" } }, items },
            };
        }

        return requests;
    }

    private static async Task SeedAsync(FeatureStoreClient ingestion)
    {
        var started = Stopwatch.GetTimestamp();
        var now = DateTimeOffset.UtcNow;
        var random = new Random(5);
        string[] kinds = ["view", "view", "view", "click", "share"];
        const int batches = 50;
        for (var batch = 0; batch < batches; batch++)
        {
            var push = new PushEventsRequest { Source = ServingDefinitions.Source };
            for (var j = 0; j < 1_000; j++)
            {
                var e = new Event { EventId = $"s{batch}-{j}", EventTime = Timestamp.FromDateTimeOffset(now.AddSeconds(-random.Next(3_000))) };
                e.Fields["user_id"] = new Value { StringValue = $"u{random.Next(Users)}" };
                // Every item gets events; the first 5,000 spread them evenly, the rest are random.
                e.Fields["item_id"] = new Value { StringValue = $"i{((batch * 1_000) + j) % Items}" };
                e.Fields["kind"] = new Value { StringValue = kinds[random.Next(kinds.Length)] };
                e.Fields["value"] = new Value { DoubleValue = random.Next(1_000) / 10.0 };
                e.Fields["flag"] = new Value { BoolValue = random.Next(2) == 0 };
                push.Events.Add(e);
            }

            var result = await ingestion.PushEventsAsync(push);
            if (result.Accepted != push.Events.Count)
            {
                throw new InvalidOperationException($"seeding: {result.Accepted} of {push.Events.Count} accepted");
            }
        }

        Console.WriteLine($"seeded {batches * 1_000} events onto {Items} items and {Users} users in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s");
    }

    /// <summary>Writes the gateway's current values of every item and user into Redis hashes ("view:feature" → number).</summary>
    private static async Task CopyToRedisAsync(FeatureStoreClient serving, string endpoint)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(endpoint);
        var db = redis.GetDatabase();
        foreach (var (type, count, columns) in new[] { ("item", Items, ServingDefinitions.ItemColumns), ("user", Users, ServingDefinitions.UserFeatures.Select(f => "bench_user:" + f).ToArray()) })
        {
            for (var first = 0; first < count; first += 500)
            {
                var request = new GetOnlineFeaturesRequest { EntityType = type, Features = new FeatureReferences { References = { columns } } };
                request.EntityIds.Add(Enumerable.Range(first, Math.Min(500, count - first)).Select(i => type[0] + i.ToString(CultureInfo.InvariantCulture)));
                var response = await serving.GetOnlineFeaturesAsync(request);
                var writes = new List<Task>();
                foreach (var entity in response.Entities)
                {
                    var fields = new List<HashEntry>();
                    for (var f = 0; f < columns.Length; f++)
                    {
                        var value = entity.Values[f];
                        if (value.Status == FeatureStatus.Present)
                        {
                            fields.Add(new HashEntry(columns[f], Number(value.Value)));
                        }
                    }

                    writes.Add(db.HashSetAsync(RedisBaselineServer.HashKey(type, entity.EntityId), [.. fields]));
                }

                await Task.WhenAll(writes);
            }
        }
    }

    private static string Number(Value value) => value.KindCase switch
    {
        Value.KindOneofCase.Int64Value => value.Int64Value.ToString(CultureInfo.InvariantCulture),
        Value.KindOneofCase.DoubleValue => value.DoubleValue.ToString("R", CultureInfo.InvariantCulture),
        Value.KindOneofCase.BoolValue => value.BoolValue ? "1" : "0",
        _ => "0",
    };

    private static async Task CheckSameAnswerAsync(FeatureStoreClient gateway, FeatureStoreClient redis, GetInferenceInputsRequest request)
    {
        var ours = (await gateway.GetInferenceInputsAsync(request)).Response;
        var theirs = (await redis.GetInferenceInputsAsync(request)).Response;
        if (ours.RowCount != theirs.RowCount || ours.ColumnCount != theirs.ColumnCount || !ours.Mask.Span.SequenceEqual(theirs.Mask.Span))
        {
            throw new InvalidOperationException("the gateway and the Redis baseline disagree on the shape or mask of the same request");
        }

        var differ = 0;
        for (var i = 0; i < ours.Values.Length; i += 4)
        {
            differ += ours.Values.Span.Slice(i, 4).SequenceEqual(theirs.Values.Span.Slice(i, 4)) ? 0 : 1;
        }

        // Windowed values may move between the copy and now (a 5-minute window slides); most cells must agree.
        Console.WriteLine($"gateway and redis baseline answer the same {ours.RowCount}x{ours.ColumnCount} matrix ({differ} cells differ: windows that slid since the copy)");
    }

    private static async Task<long> AllocatedBytesAsync(HttpClient http)
    {
        var text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        foreach (var line in text.Split('\n'))
        {
            // "name{labels} value [timestamp]": the value is the token after the name and its labels.
            if (line.StartsWith("dotnet_gc_heap_total_allocated", StringComparison.Ordinal))
            {
                var labelsEnd = line.IndexOf('}', StringComparison.Ordinal);
                var tokens = line[(labelsEnd >= 0 ? labelsEnd + 1 : line.IndexOf(' ', StringComparison.Ordinal))..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return (long)double.Parse(tokens[0], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    private static Process StartBaselineServer(int port, string redisEndpoint)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        start.ArgumentList.Add(typeof(ServingBenchmark).Assembly.Location);
        foreach (var arg in new[] { "redis-baseline-server", "--port", port.ToString(CultureInfo.InvariantCulture), "--redis", redisEndpoint })
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("the Redis baseline server did not start");
    }

    private static async Task WaitForPortAsync(int port)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }
    }


    private static int[] Shuffled(int count, int seed)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(seed).Shuffle(order);
        return order;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
