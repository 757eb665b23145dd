using System.CommandLine;
using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace OrleansFeatures.Cli.Commands;

/// <summary>
/// <c>generate</c>: a synthetic engagement dataset (definitions, events, entity table) for trying the offline path
/// and measuring it at scale (docs/benchmarks.md, "Training sets"). Seeded, so a size always gives the same data.
/// </summary>
public static class GenerateCommand
{
    public const string Definitions = """
        entity: user
        key: user_id
        sources:
          - name: engagement
            timestamp_field: ts
            event_id_field: event_id
            fields: { event_id: string, ts: int64, user_id: string, kind: string, seconds: double }
        feature_views:
          - name: user_engagement
            source: engagement
            ttl: 2d
            allowed_lateness: 1h
            features:
              - { name: last_kind, latest: kind }
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: events_24h, aggregation: count, window: 24h }
              - { name: seconds_24h, aggregation: sum, field: seconds, window: 24h }
              - { name: max_seconds_7d, aggregation: max, field: seconds, window: 7d }
        feature_services:
          - name: engagement_model
            features: [user_engagement:clicks_1h, user_engagement:events_24h, user_engagement:seconds_24h, user_engagement:max_seconds_7d, user_engagement:last_kind]
            defaults: { "user_engagement:clicks_1h": 0 }
        """;

    private static readonly string[] Kinds = ["click", "view", "share", "like"];

    public static Command Create(CommandContext context)
    {
        var folder = new Argument<string>("folder") { Description = "where to write definitions.yaml, events.parquet and entities.parquet" };
        var events = new Option<long>("--events") { Description = "events to write", DefaultValueFactory = _ => 1_000_000 };
        var users = new Option<int>("--users") { Description = "distinct users", DefaultValueFactory = _ => 100_000 };
        var rows = new Option<long>("--rows") { Description = "entity table rows", DefaultValueFactory = _ => 100_000 };
        var days = new Option<int>("--days") { Description = "days of history, ending an hour ago", DefaultValueFactory = _ => 14 };
        var sportsMedia = new Option<bool>("--sports-media")
        {
            Description = "history for examples/definitions instead: engagement-events.parquet (users fan-N, the last 2 days, in time order) and labels.parquet",
        };
        var command = new Command("generate", "write a synthetic dataset to try or measure training sets") { folder, events, users, rows, days, sportsMedia };
        command.SetAction((parse, token) => context.RunAsync(parse, async cli =>
        {
            var path = parse.GetValue(folder)!;
            Directory.CreateDirectory(path);
            if (parse.GetValue(sportsMedia))
            {
                return await SportsMediaHistory.WriteAsync(cli, path, parse, events, users, rows, token);
            }

            await File.WriteAllTextAsync(Path.Combine(path, "definitions.yaml"), Definitions + "\n", token);
            var end = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
            var span = parse.GetValue(days) * 86_400_000L;
            var random = new Random(17);
            using (var progress = cli.Progress("events"))
            {
                await WriteEventsAsync(Path.Combine(path, "events.parquet"), parse.GetValue(events), parse.GetValue(users), end - span, span, random, progress, token);
            }

            await WriteEntitiesAsync(Path.Combine(path, "entities.parquet"), parse.GetValue(rows), parse.GetValue(users), end - span, span, random, token);
            cli.Line($"wrote {path}/definitions.yaml, events.parquet ({parse.GetValue(events):N0}), entities.parquet ({parse.GetValue(rows):N0} rows)");
            cli.Line(string.Create(CultureInfo.InvariantCulture, $"try: ofs training-set -d {path}/definitions.yaml -s engagement_model --events engagement={path}/events.parquet --entities {path}/entities.parquet --out {path}/training.parquet"));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static async Task WriteEventsAsync(string file, long count, int users, long start, long span, Random random, ProgressLine progress, CancellationToken cancellationToken)
    {
        var schema = new ParquetSchema(
            new DataField<string>("event_id"),
            new DataField<long>("ts"),
            new DataField<string>("user_id"),
            new DataField<string>("kind"),
            new DataField<double>("seconds"));
        await using var stream = File.Create(file);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken);
        const int GroupSize = 1_000_000;
        long written = 0;
        while (written < count)
        {
            var size = (int)Math.Min(GroupSize, count - written);
            var ids = new string[size];
            var times = new long[size];
            var keys = new string[size];
            var kinds = new string[size];
            var seconds = new double[size];
            for (var i = 0; i < size; i++)
            {
                var n = written + i;

                // About 1% are replays of an earlier event (same id and time): the store de-duplicates them.
                var replay = n > 0 && random.NextDouble() < 0.01;
                var source = replay ? (long)(random.NextDouble() * n) : n;
                var sourceRandom = new Random((int)(source % int.MaxValue) ^ 0x5f3759df);
                ids[i] = "e" + source.ToString(CultureInfo.InvariantCulture);
                times[i] = start + (long)(sourceRandom.NextDouble() * span);
                keys[i] = "u" + sourceRandom.Next(users).ToString(CultureInfo.InvariantCulture);
                kinds[i] = Kinds[sourceRandom.Next(Kinds.Length)];
                seconds[i] = Math.Round(sourceRandom.NextDouble() * 300, 1);
            }

            using var group = writer.CreateRowGroup();
            await group.WriteAsync(schema.DataFields[0], ids, null);
            await group.WriteAsync<long>(schema.DataFields[1], times.AsMemory(), null, null, cancellationToken);
            await group.WriteAsync(schema.DataFields[2], keys, null);
            await group.WriteAsync(schema.DataFields[3], kinds, null);
            await group.WriteAsync<double>(schema.DataFields[4], seconds.AsMemory(), null, null, cancellationToken);
            written += size;
            progress.Report(written, count);
        }
    }

    private static async Task WriteEntitiesAsync(string file, long count, int users, long start, long span, Random random, CancellationToken cancellationToken)
    {
        var schema = new ParquetSchema(new DataField<string>("user_id"), new DataField<long>("event_timestamp"), new DataField<long>("label"));
        await using var stream = File.Create(file);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken);
        const int GroupSize = 1_000_000;
        long written = 0;
        while (written < count)
        {
            var size = (int)Math.Min(GroupSize, count - written);
            var keys = new string[size];
            var times = new long[size];
            var labels = new long[size];
            for (var i = 0; i < size; i++)
            {
                keys[i] = "u" + random.Next(users).ToString(CultureInfo.InvariantCulture);
                times[i] = start + (long)(random.NextDouble() * span);
                labels[i] = random.Next(2);
            }

            using var group = writer.CreateRowGroup();
            await group.WriteAsync(schema.DataFields[0], keys, null);
            await group.WriteAsync<long>(schema.DataFields[1], times.AsMemory(), null, null, cancellationToken);
            await group.WriteAsync<long>(schema.DataFields[2], labels.AsMemory(), null, null, cancellationToken);
            written += size;
        }
    }
}
