using OrleansFeatures.Core.Engine;
using System.CommandLine;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Offline.PointInTime;
using OrleansFeatures.V1;
using CoreDocument = OrleansFeatures.Core.Definitions.DefinitionDocument;

namespace OrleansFeatures.Cli.Commands;

/// <summary><c>training-set</c>: a point-in-time training set as Parquet, computed locally (docs/offline.md).</summary>
public static class TrainingSetCommand
{
    public static Command Create(CommandContext context)
    {
        var service = new Option<string>("--service", "-s") { Description = "the feature service whose features become columns", Required = true };
        var entities = new Option<string>("--entities") { Description = "entity table: key column, event_timestamp, labels (.parquet, .csv, .jsonl); a file, folder, or Blob / Data Lake URI (prefix or glob)", Required = true };
        var events = new Option<string[]>("--events") { Description = "SOURCE=PATH: historical events of a source (repeat per source): .jsonl, .csv, .parquet or Event Hubs Capture .avro; a file, folder, or Blob / Data Lake URI (prefix or glob)", Required = true, AllowMultipleArgumentsPerToken = true };
        var output = new Option<string>("--out") { Description = "the Parquet file to write (with --shard: the dataset folder); local or a Blob / Data Lake URI", Required = true };
        var shard = new Option<string?>("--shard") { Description = "i/N: only the entity keys of hash shard i of N; writes OUT/shard=i/part-i-of-N.parquet and records the shard in OUT/_manifest.json" };
        var storage = LakeArguments.ConnectionStringOption();
        var definitions = new Option<string[]>("--definitions", "-d") { Description = "definition files or folders (default: the running store's current definitions)", AllowMultipleArgumentsPerToken = true };
        var arrival = new Option<string?>("--arrival-field") { Description = "event column with the time the store received each event (default: none; event time is taken as arrival time)" };
        var timestamp = new Option<string>("--timestamp-column") { Description = "the entity table's time column", DefaultValueFactory = _ => "event_timestamp" };
        var key = new Option<string?>("--key-column") { Description = "the entity table's key column (default: the entity type's key field)" };
        var partitions = new Option<int>("--partitions") { Description = "hash partitions by entity: memory follows events/partitions", DefaultValueFactory = _ => 32 };
        var parallelism = new Option<int>("--parallelism") { Description = "partitions replayed at once", DefaultValueFactory = _ => Math.Max(1, Math.Min(2, Environment.ProcessorCount)) };
        var featureTypes = new Option<string?>("--feature-types") { Description = "folder of C# feature-type assemblies the definitions name (name@version): the same the silos load from FeatureStore:FeatureTypes:Directory" };
        var temp = new Option<string?>("--temp-dir") { Description = "where spill files go (default: the system temp folder)" };
        var command = new Command("training-set", "features of a feature service for every row of an entity table, as the online store would have served them at each row's time (no store needed with --definitions)")
        {
            service, entities, events, output, definitions, arrival, timestamp, key, partitions, parallelism, temp, shard, storage, featureTypes,
        };
        command.SetAction((parse, token) => context.RunAsync(parse, async cli =>
        {
            var set = await LoadDefinitionsAsync(parse, cli, parse.GetValue(definitions), token);
            if (set is null)
            {
                return ExitCodes.Invalid;
            }

            var entityShard = parse.GetValue(shard) is { } shardText ? EntityShard.Parse(shardText) : null;
            using var lake = new LakeArguments(parse.GetValue(storage), parse.GetValue(temp));
            var inputs = new List<EventInput>();
            foreach (var pair in parse.GetValue(events)!)
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0 || equals == pair.Length - 1)
                {
                    throw new ArgumentException($"--events '{pair}' is not SOURCE=PATH");
                }

                inputs.Add(new EventInput(pair[..equals], await lake.LocalInputAsync(pair[(equals + 1)..], token)));
            }

            var outputPath = parse.GetValue(output)!;
            var target = entityShard is null ? outputPath : LakeArguments.IsLake(outputPath)
                ? $"{outputPath.TrimEnd('/')}/{ShardManifest.PartOf(entityShard)}"
                : Path.Combine(outputPath, ShardManifest.PartOf(entityShard));

            using var progress = cli.Progress("training set");
            var request = new TrainingSetRequest
            {
                Definitions = set,
                FeatureTypes = parse.GetValue(featureTypes) is { } typesFolder ? FeatureTypeCatalog.LoadDirectory(typesFolder) : FeatureTypeCatalog.Empty,
                FeatureService = parse.GetValue(service)!,
                Events = inputs,
                EntityTable = await lake.LocalInputAsync(parse.GetValue(entities)!, token),
                Output = lake.LocalOutput(target),
                Shard = entityShard,
                ArrivalField = parse.GetValue(arrival),
                TimestampColumn = parse.GetValue(timestamp)!,
                KeyColumn = parse.GetValue(key),
                Partitions = parse.GetValue(partitions),
                Parallelism = Math.Max(1, parse.GetValue(parallelism)),
                TempDirectory = parse.GetValue(temp),
                Progress = new SynchronousProgress<TrainingSetProgress>(p => progress.Report(p.Done, p.Total, p.Phase)),
            };
            var result = await new TrainingSetBuilder(request).BuildAsync(token);
            await lake.PublishAsync(request.Output, target, token);
            ShardManifest? manifest = null;
            if (entityShard is not null)
            {
                manifest = await ShardManifest.RecordAsync(
                    outputPath,
                    lake.Storage,
                    entityShard.Count,
                    request.FeatureService,
                    new ShardEntry { Shard = entityShard.Index, File = ShardManifest.PartOf(entityShard), Rows = result.LabelRows, CompletedAt = DateTimeOffset.UtcNow },
                    token);
            }

            var seconds = Math.Max(result.TotalTime.TotalSeconds, 1e-9);
            if (cli.Json)
            {
                cli.WriteJson(new
                {
                    output = LakeArguments.IsLake(target) ? target : Path.GetFullPath(target),
                    shard = entityShard?.ToString(),
                    shards_done = manifest?.Done.Select(d => d.Shard),
                    events_of_other_shards = result.EventsOfOtherShards,
                    entity_table_rows = result.EntityTableRows,
                    label_rows = result.LabelRows,
                    entities = result.Entities,
                    events_read = result.EventsRead,
                    events_rejected = result.EventsRejected,
                    rejected_examples = result.RejectedExamples,
                    events_routed = result.EventsRouted,
                    events_after_last_row = result.EventsAfterLastRow,
                    events_of_entities_without_rows = result.EventsOfEntitiesWithoutRows,
                    accepted = result.Accepted,
                    duplicates = result.Duplicates,
                    late = result.Late,
                    columns = result.Columns,
                    partition_seconds = result.PartitionTime.TotalSeconds,
                    replay_seconds = result.ReplayTime.TotalSeconds,
                    write_seconds = result.WriteTime.TotalSeconds,
                    total_seconds = result.TotalTime.TotalSeconds,
                    events_per_second = result.EventsRead / seconds,
                    label_rows_per_second = result.LabelRows / seconds,
                    peak_working_set_bytes = result.PeakWorkingSetBytes,
                });
            }
            else
            {
                cli.Line($"wrote {result.LabelRows:N0} row(s) x {result.Columns.Count} column(s) to {target}");
                if (entityShard is not null && manifest is not null)
                {
                    cli.Line($"shard {entityShard}: {result.LabelRows:N0} of the entity table's {result.EntityTableRows:N0} row(s); {result.EventsOfOtherShards:N0} routed event(s) belong to other shards; {manifest.Done.Count} of {manifest.Shards} shard(s) done ({outputPath.TrimEnd('/')}/{ShardManifest.FileName})");
                }

                var replayed = result.EventsRouted - result.EventsOfOtherShards - result.EventsAfterLastRow - result.EventsOfEntitiesWithoutRows;
                cli.Line($"events: {result.EventsRead:N0} read, {result.EventsRejected:N0} rejected; {result.EventsRouted - result.EventsOfOtherShards:N0} reach an entity of the service's type{(entityShard is null ? "" : " in this shard")}, of which {replayed:N0} replayed and {result.EventsAfterLastRow + result.EventsOfEntitiesWithoutRows:N0} not: {result.EventsAfterLastRow:N0} arrived after their entity's last label row, {result.EventsOfEntitiesWithoutRows:N0} are of entities no label row asks for (neither can change a row)");
                cli.Line($"replayed: {result.Accepted:N0} accepted, {result.Duplicates:N0} duplicate, {result.Late:N0} late (summed over views)");
                cli.Line($"time: {result.TotalTime.TotalSeconds:N1} s (partition {result.PartitionTime.TotalSeconds:N1}, replay {result.ReplayTime.TotalSeconds:N1}, write {result.WriteTime.TotalSeconds:N1}); {result.EventsRead / seconds:N0} events/s, {result.LabelRows / seconds:N0} rows/s; peak memory {result.PeakWorkingSetBytes / (1024.0 * 1024):N0} MiB");
            }

            foreach (var example in result.RejectedExamples)
            {
                cli.Error.WriteLine($"rejected: {example}");
            }

            return ExitCodes.Success;
        }));
        return command;
    }

    private static async Task<DefinitionSet?> LoadDefinitionsAsync(ParseResult parse, CliOutput cli, string[]? paths, CancellationToken cancellationToken)
    {
        List<CoreDocument> documents;
        if (paths is { Length: > 0 })
        {
            documents = DefinitionFiles.Read(paths);
        }
        else
        {
            using var store = CommandContext.Connect(parse);
            var current = await store.Registry.GetDefinitionsAsync(new GetDefinitionsRequest(), cancellationToken: cancellationToken);
            documents = [.. current.Documents.Select(d => new CoreDocument(d.Name, d.Yaml))];
        }

        var loaded = DefinitionLoader.Load(documents);
        foreach (var error in loaded.Errors)
        {
            cli.Error.WriteLine(error.ToString());
        }

        return loaded.Set;
    }
}
