using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans;
using Orleans.Runtime;
using Orleans.Storage;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Storage;
using OrleansFeatures.TestInfrastructure;

/// <summary>
/// The embedded grain storage's write path against its floor in the same run: many grains each writing one entity
/// state after another through <see cref="SqliteGrainStorage"/> (group commit, ETag checks, completions), and one
/// loop writing the same rows in transactions of the same size with one prepared upsert and nothing else. Both use
/// WAL and <c>synchronous=FULL</c>; the state bytes are opaque here, so serialisation is not measured.
/// </summary>
internal static class StorageBenchmark
{
    public static async Task RunAsync(string[] args)
    {
        var writers = 1_000;
        var entities = 10_000;
        var writes = 60_000;
        var bytes = 1_600;
        for (var i = 1; i < args.Length - 1; i++)
        {
            if (args[i] == "--writers") writers = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--entities") entities = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--writes") writes = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            if (args[i] == "--bytes") bytes = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
        }

        writers = Math.Min(writers, entities);
        using var temp = new TempDirectory("orleansfeatures-bench-storage");
        var payload = new byte[bytes];
        new Random(7).NextBytes(payload);

        // Round 1 warms both paths up (JIT, file growth to the working set); round 2 is measured.
        StoreResult store = default;
        FloorResult floor = default;
        for (var round = 1; round <= 2; round++)
        {
            var directory = Path.Combine(temp.Path, $"round{round}");
            store = await MeasureStoreAsync(Path.Combine(directory, "store.db"), writers, entities, writes, payload);
            floor = MeasureFloor(Path.Combine(directory, "floor.db"), entities, writes, payload, Math.Max(1, (int)Math.Round(store.WritesPerCommit)));
        }

        Console.WriteLine($"SQLite grain storage on 2 cores: {writes} writes of {bytes} bytes over {entities} entities, {writers} concurrent grains");
        Console.WriteLine($"  floor: one prepared upsert, same transaction size:  {floor.WritesPerSecond,9:0} writes/s  {floor.CpuMicrosPerWrite,6:0.0} us CPU/write");
        Console.WriteLine($"  SqliteGrainStorage (group commit, ETags):          {store.WritesPerSecond,9:0} writes/s  {store.CpuMicrosPerWrite,6:0.0} us CPU/write  ({store.WritesPerCommit:0} writes per commit)");
        Console.WriteLine($"  ratio store / floor: {store.WritesPerSecond / floor.WritesPerSecond:0.00}x writes/s, {store.CpuMicrosPerWrite / floor.CpuMicrosPerWrite:0.00}x CPU per write");
    }

    private static async Task<StoreResult> MeasureStoreAsync(string path, int writers, int entities, int writes, byte[] payload)
    {
        var storage = new SqliteGrainStorage("bench", new SqliteGrainStorageOptions
        {
            DatabasePath = path,
            GrainStorageSerializer = new OpaqueSerializer(),
        }, NullLogger<SqliteGrainStorage>.Instance);
        await storage.OpenAsync(CancellationToken.None);
        try
        {
            var etags = new string?[entities];
            var ids = Enumerable.Range(0, entities).Select(e => GrainId.Create("entity", $"user/u{e}")).ToArray();
            var perWriter = writes / writers;
            // Commits counted from the storage's own metric, as an operator would see them.
            long commits = 0;
            using var listener = new MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == InstrumentNames.StorageWritesPerCommit)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<int>((_, _, _, _) => Interlocked.Increment(ref commits));
            listener.Start();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
            {
                // Writer w owns entities w, w + writers, ...: like a grain, it never has two writes of one row in flight.
                var owned = (entities - w + writers - 1) / writers;
                for (var n = 0; n < perWriter; n++)
                {
                    var entity = w + (n % owned) * writers;
                    var state = new GrainState<byte[]>(payload) { ETag = etags[entity] };
                    await storage.WriteStateAsync("entity", ids[entity], state);
                    etags[entity] = state.ETag;
                }
            })));
            clock.Stop();
            var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            var total = perWriter * writers;
            return new StoreResult(total / clock.Elapsed.TotalSeconds, cpuUsed.TotalMicroseconds / total, (double)total / Math.Max(1, commits));
        }
        finally
        {
            await storage.DisposeAsync();
        }
    }

    private static FloorResult MeasureFloor(string path, int entities, int writes, byte[] payload, int perCommit)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using (var setup = connection.CreateCommand())
        {
            setup.CommandText = """
                PRAGMA journal_mode=WAL;
                PRAGMA synchronous=FULL;
                CREATE TABLE grain_state (grain_type TEXT NOT NULL, grain_id TEXT NOT NULL, version INTEGER NOT NULL,
                    data BLOB NOT NULL, PRIMARY KEY (grain_type, grain_id)) WITHOUT ROWID;
                """;
            setup.ExecuteNonQuery();
        }

        using var upsert = connection.CreateCommand();
        upsert.CommandText = """
            INSERT INTO grain_state (grain_type, grain_id, version, data) VALUES ('entity', $id, 1, $data)
            ON CONFLICT (grain_type, grain_id) DO UPDATE SET version = version + 1, data = excluded.data
            """;
        var id = upsert.Parameters.Add("$id", SqliteType.Text);
        upsert.Parameters.Add("$data", SqliteType.Blob).Value = payload;
        var ids = Enumerable.Range(0, entities).Select(e => GrainId.Create("entity", $"user/u{e}").ToString()).ToArray();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (var written = 0; written < writes;)
        {
            using var transaction = connection.BeginTransaction();
            upsert.Transaction = transaction;
            for (var n = 0; n < perCommit && written < writes; n++, written++)
            {
                id.Value = ids[written % entities];
                upsert.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        clock.Stop();
        var cpuUsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        return new FloorResult(writes / clock.Elapsed.TotalSeconds, cpuUsed.TotalMicroseconds / writes);
    }

    private readonly record struct StoreResult(double WritesPerSecond, double CpuMicrosPerWrite, double WritesPerCommit);

    private readonly record struct FloorResult(double WritesPerSecond, double CpuMicrosPerWrite);

    /// <summary>Hands the state's bytes to storage as they are: this benchmark measures storage, not serialisation.</summary>
    private sealed class OpaqueSerializer : IGrainStorageSerializer
    {
        public BinaryData Serialize<T>(T? input) => new((byte[])(object)input!);

        public T Deserialize<T>(BinaryData input) => (T)(object)input.ToArray();
    }
}
