using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Offline.Capture;
using OrleansFeatures.Offline.PointInTime;
using Parquet;
using Parquet.Schema;

namespace OrleansFeatures.Bench;

/// <summary>
/// <c>bench training-shards</c>: what one shard of a sharded training set costs. The same synthetic events are written
/// as Parquet (with an arrival column) and as Event Hubs Capture Avro (the enqueued time as arrival); then, in
/// interleaved rounds, one shard of N is built from each (every shard reads the whole input), one from input
/// pre-partitioned by the shard function (only its own events and rows), and the unsharded run. Each build is timed
/// (wall and process CPU) on one replay thread, so CPU time per event is per core.
/// </summary>
internal static class ShardedTrainingSetBenchmark
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, kind: string, seconds: double }
        feature_views:
          - name: plays
            source: plays
            ttl: 2d
            allowed_lateness: 10m
            features:
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: plays_24h, aggregation: count, window: 24h }
              - { name: seconds_24h, aggregation: sum, field: seconds, window: 24h }
              - { name: max_seconds_7d, aggregation: max, field: seconds, window: 7d }
              - { name: last_kind, latest: kind }
        feature_services:
          - name: model
            features: [plays:clicks_1h, plays:plays_24h, plays:seconds_24h, plays:max_seconds_7d, plays:last_kind]
        """;

    public static async Task RunAsync(string[] args)
    {
        var events = Option(args, "--events", 1_000_000);
        var users = Option(args, "--users", 100_000);
        var rows = Option(args, "--rows", 100_000);
        var shards = Option(args, "--shards", 8);
        var rounds = Option(args, "--rounds", 2);
        var folder = Path.Combine(Path.GetTempPath(), $"ofs-bench-shards-{Environment.ProcessId}");
        Directory.CreateDirectory(folder);
        try
        {
            var clock = Stopwatch.StartNew();
            var (parquet, capture, entities, sizes) = await GenerateAsync(folder, events, users, rows, shards);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"generated {events:N0} events over {users:N0} users, {rows:N0} rows in {clock.Elapsed.TotalSeconds:N0} s: Parquet {sizes.Parquet / 1e6:N1} MB, Capture Avro {sizes.Avro / 1e6:N1} MB"));
            var definitions = DefinitionLoader.Load([new DefinitionDocument("plays.yaml", Yaml)]).Set!;
            var shard = new EntityShard(0, shards);
            var runs = new (string Name, Func<string, TrainingSetRequest> Request)[]
            {
                ($"shard 0/{shards}, whole input, Parquet", output => Request(definitions, Path.Combine(parquet, "all"), Path.Combine(entities, "all.parquet"), output, shard)),
                ($"shard 0/{shards}, whole input, Capture Avro", output => Request(definitions, capture, Path.Combine(entities, "all.parquet"), output, shard)),
                ($"shard 0/{shards}, pre-partitioned Parquet", output => Request(definitions, Path.Combine(parquet, "shard-0"), Path.Combine(entities, "shard-0.parquet"), output, shard)),
                ("unsharded, Parquet", output => Request(definitions, Path.Combine(parquet, "all"), Path.Combine(entities, "all.parquet"), output, null)),
            };

            var results = runs.Select(_ => new List<(double Wall, double Cpu, TrainingSetResult Result)>()).ToArray();
            for (var round = 0; round < rounds; round++)
            {
                for (var r = 0; r < runs.Length; r++)
                {
                    GC.Collect();
                    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                    var wall = Stopwatch.StartNew();
                    var result = await new TrainingSetBuilder(runs[r].Request(Path.Combine(folder, "out.parquet"))).BuildAsync();
                    var used = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
                    results[r].Add((wall.Elapsed.TotalSeconds, used, result));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round + 1} {runs[r].Name}: {wall.Elapsed.TotalSeconds:N1} s wall, {used:N1} s CPU (partition {result.PartitionTime.TotalSeconds:N1} / replay {result.ReplayTime.TotalSeconds:N1} / write {result.WriteTime.TotalSeconds:N1}); {result.EventsRead:N0} read, {result.EventsRouted - result.EventsOfOtherShards:N0} kept, {result.LabelRows:N0} rows"));
                }
            }

            Console.WriteLine();
            Console.WriteLine("| run | events read | rows | wall (best) | CPU (best) | events read / CPU s | vs. unsharded CPU |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            var baseline = results[^1].Min(r => r.Cpu);
            for (var r = 0; r < runs.Length; r++)
            {
                var best = results[r].MinBy(x => x.Cpu);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {runs[r].Name} | {best.Result.EventsRead:N0} | {best.Result.LabelRows:N0} | {results[r].Min(x => x.Wall):N1} s | {best.Cpu:N1} s | {best.Result.EventsRead / best.Cpu:N0} | {best.Cpu / baseline:N2} |"));
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static TrainingSetRequest Request(DefinitionSet definitions, string events, string entities, string output, EntityShard? shard) => new()
    {
        Definitions = definitions,
        FeatureService = "model",
        Events = [new EventInput("plays", events)],
        EntityTable = entities,
        Output = output,
        ArrivalField = "arrival",
        Shard = shard,
        // One replay thread: CPU seconds per event are per core.
        Parallelism = 1,
        Partitions = 16,
    };

    private static async Task<(string Parquet, string Capture, string Entities, (long Parquet, long Avro) Sizes)> GenerateAsync(string folder, int count, int users, int rows, int shards)
    {
        var random = new Random(27);
        var start = 1_767_225_600_000L;
        var span = 14L * 24 * 3_600_000;
        var ids = new string[count];
        var user = new string[count];
        var ts = new long[count];
        var arrival = new long[count];
        var kind = new string[count];
        var seconds = new double[count];
        for (var i = 0; i < count; i++)
        {
            arrival[i] = start + (span * i / count);
            var replay = i > 0 && random.NextDouble() < 0.01;
            var original = replay ? random.Next(i) : i;
            ids[i] = $"e{original}";
            user[i] = replay ? user[original] : $"user-{random.Next(users)}";
            ts[i] = replay ? ts[original] : arrival[i] - random.Next(0, 120_000);
            kind[i] = replay ? kind[original] : random.NextDouble() < 0.3 ? "click" : "view";
            seconds[i] = replay ? seconds[original] : random.Next(0, 600) / 4.0;
        }

        var parquet = Path.Combine(folder, "parquet");
        var all = Enumerable.Range(0, count).ToArray();
        await WriteEventsAsync(Path.Combine(parquet, "all", "events.parquet"), all);
        await WriteEventsAsync(Path.Combine(parquet, "shard-0", "events.parquet"), [.. all.Where(i => EntityShard.Of(user[i], shards) == 0)]);

        // Capture: 4 partitions keyed by user, a file per partition and half day.
        var capture = Path.Combine(folder, "capture", "ns", "plays");
        long avroBytes = 0;
        foreach (var partition in all.GroupBy(i => EntityShard.Of(user[i], 4)))
        {
            long sequence = 0;
            foreach (var window in partition.GroupBy(i => (arrival[i] - start) / (12 * 3_600_000L)))
            {
                var file = Path.Combine(capture, partition.Key.ToString(CultureInfo.InvariantCulture), $"{window.Key:D4}.avro");
                CaptureWriter.Write(file, window.Select(i => new CaptureEvent(
                    sequence++,
                    DateTimeOffset.FromUnixTimeMilliseconds(arrival[i]),
                    JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["event_id"] = ids[i], ["ts"] = ts[i], ["user_id"] = user[i], ["kind"] = kind[i], ["seconds"] = seconds[i] }),
                    user[i])));
                avroBytes += new FileInfo(file).Length;
            }
        }

        var entities = Path.Combine(folder, "entities");
        var rowUsers = Enumerable.Range(0, rows).Select(_ => $"user-{random.Next(users)}").ToArray();
        var rowTimes = Enumerable.Range(0, rows).Select(_ => start + (long)(random.NextDouble() * span)).ToArray();
        await WriteRowsAsync(Path.Combine(entities, "all.parquet"), [.. Enumerable.Range(0, rows)]);
        await WriteRowsAsync(Path.Combine(entities, "shard-0.parquet"), [.. Enumerable.Range(0, rows).Where(r => EntityShard.Of(rowUsers[r], shards) == 0)]);
        return (parquet, capture, entities, (new FileInfo(Path.Combine(parquet, "all", "events.parquet")).Length, avroBytes));

        async Task WriteEventsAsync(string path, int[] pick)
        {
            var schema = new ParquetSchema(new DataField<string>("event_id"), new DataField<long>("ts"), new DataField<string>("user_id"), new DataField<string>("kind"), new DataField<double>("seconds"), new DataField<long>("arrival"));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var stream = File.Create(path);
            await using var writer = await ParquetWriter.CreateAsync(schema, stream);
            foreach (var chunk in pick.Chunk(500_000))
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(schema.DataFields[0], chunk.Select(i => ids[i]).ToArray(), null);
                await group.WriteAsync<long>(schema.DataFields[1], chunk.Select(i => ts[i]).ToArray().AsMemory(), null, null, default);
                await group.WriteAsync(schema.DataFields[2], chunk.Select(i => user[i]).ToArray(), null);
                await group.WriteAsync(schema.DataFields[3], chunk.Select(i => kind[i]).ToArray(), null);
                await group.WriteAsync<double>(schema.DataFields[4], chunk.Select(i => seconds[i]).ToArray().AsMemory(), null, null, default);
                await group.WriteAsync<long>(schema.DataFields[5], chunk.Select(i => arrival[i]).ToArray().AsMemory(), null, null, default);
            }
        }

        async Task WriteRowsAsync(string path, int[] pick)
        {
            var schema = new ParquetSchema(new DataField<string>("user_id"), new DataField<long>("event_timestamp"));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var stream = File.Create(path);
            await using var writer = await ParquetWriter.CreateAsync(schema, stream);
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(schema.DataFields[0], pick.Select(r => rowUsers[r]).ToArray(), null);
            await group.WriteAsync<long>(schema.DataFields[1], pick.Select(r => rowTimes[r]).ToArray().AsMemory(), null, null, default);
        }
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
