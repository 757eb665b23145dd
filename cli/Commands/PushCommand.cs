using System.CommandLine;

namespace OrleansFeatures.Cli.Commands;

/// <summary><c>push</c> (events from a file, once) and <c>backfill</c> (the same, resumable, with a progress file).</summary>
public static class PushCommand
{
    public static Command Push(CommandContext context)
    {
        var (source, file, batch, storage) = Arguments();
        var command = new Command("push", "push the events of a JSON lines, CSV, Parquet or Event Hubs Capture (.avro) file (or folder, or Blob / Data Lake URI) to a source, in file order; exit 5 if any was rejected") { source, file, batch, storage };
        command.SetAction((parse, token) => context.RunAsync(parse, cli => RunAsync(parse, cli, parse.GetValue(source)!, parse.GetValue(file)!, parse.GetValue(batch), parse.GetValue(storage), null, null, default, token)));
        return command;
    }

    public static Command Backfill(CommandContext context)
    {
        var (source, file, batch, storage) = Arguments();
        var progressFile = new Option<string?>("--progress-file") { Description = "where progress is saved after every batch (default: FILE.ofs-progress); a rerun resumes from it" };
        var stopAfter = new Option<long?>("--stop-after") { Description = "stop after sending this many rows in this run (progress saved; rerun to continue): a backfill in slices" };
        var retryRejected = new Option<bool>("--retry-rejected") { Description = "send again only the rows the progress file records as rejected (after fixing their cause, e.g. the definitions)" };
        var restart = new Option<bool>("--restart") { Description = "ignore the progress file and send the whole file again (accepted events come back DUPLICATE)" };
        var command = new Command(
            "backfill",
            "load history into the online store through the durable push path: idempotent (event ids), resumable (progress file); see docs/offline.md before backfilling a view that already receives live events")
        {
            source, file, batch, storage, progressFile, stopAfter, retryRejected, restart,
        };
        command.SetAction((parse, token) => context.RunAsync(parse, cli =>
        {
            var path = parse.GetValue(file)!;
            if (parse.GetValue(retryRejected) && parse.GetValue(restart))
            {
                throw new ArgumentException("--retry-rejected and --restart exclude each other");
            }

            return RunAsync(parse, cli, parse.GetValue(source)!, path, parse.GetValue(batch), parse.GetValue(storage), parse.GetValue(progressFile) ?? DefaultProgressFile(path), parse.GetValue(stopAfter),
                (parse.GetValue(retryRejected), parse.GetValue(restart)), token);
        }));
        return command;
    }

    // A lake input's progress is kept in the working folder, named after the URI's last plain segment and the URI's hash.
    private static string DefaultProgressFile(string path)
    {
        if (!LakeArguments.IsLake(path))
        {
            return path.TrimEnd('/') + ".ofs-progress";
        }

        var name = path.TrimEnd('/').Split('/').LastOrDefault(s => s.Length > 0 && s.IndexOfAny(['*', '?']) < 0) ?? "lake";
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(path)))[..8].ToLowerInvariant();
        return $"{name}.{hash}.ofs-progress";
    }

    private static (Option<string> Source, Argument<string> File, Option<int> Batch, Option<string?> Storage) Arguments()
    {
        var source = new Option<string>("--source") { Description = "the definition source the events belong to", Required = true };
        var file = new Argument<string>("file") { Description = "a .jsonl, .csv, .parquet or Event Hubs Capture .avro file, a folder of them (read in name order), or a Blob / Data Lake URI (prefix or glob)" };
        var batch = new Option<int>("--batch-size") { Description = "events per push call (at most the store's MaxEventsPerPush)", DefaultValueFactory = _ => 1000 };
        return (source, file, batch, LakeArguments.ConnectionStringOption());
    }

    private static async Task<int> RunAsync(
        System.CommandLine.ParseResult parse, CliOutput cli, string source, string file, int batchSize, string? storage, string? progressFile, long? stopAfter,
        (bool RetryRejected, bool Restart) rerun, CancellationToken cancellationToken)
    {
        if (batchSize is < 1 or > 100_000)
        {
            throw new ArgumentException("--batch-size must be between 1 and 100000");
        }

        using var store = CommandContext.Connect(parse);
        var pusher = new EventPusher(store, cli)
        {
            BatchSize = batchSize, ProgressFile = progressFile, StopAfterRows = stopAfter, RetryRejected = rerun.RetryRejected, Restart = rerun.Restart,
        };
        using var lake = new LakeArguments(storage, null);
        var local = await lake.LocalInputAsync(file, cancellationToken);
        var summary = await pusher.RunAsync(source, local, cancellationToken, LakeArguments.IsLake(file) ? file : null);
        var code = summary.Stopped ? ExitCodes.Partial : summary.Rejected > 0 ? ExitCodes.Partial : ExitCodes.Success;
        if (cli.Json)
        {
            cli.WriteJson(new
            {
                source = summary.Source,
                file = summary.File,
                rows_done = summary.RowsDone,
                accepted = summary.Accepted,
                duplicates = summary.Duplicates,
                late = summary.Late,
                rejected = summary.Rejected,
                rejected_examples = summary.RejectedExamples,
                completed = summary.Completed,
                resumed = summary.Resumed,
                already_complete = summary.AlreadyComplete,
                retried = summary.Retried,
                progress_file = progressFile,
                exit_code = code,
            });
        }
        else if (summary.AlreadyComplete)
        {
            cli.Line($"already complete, nothing sent ({progressFile} records it): {summary.RowsDone:N0} row(s); accepted {summary.Accepted:N0}, duplicate {summary.Duplicates:N0}, late {summary.Late:N0}, rejected {summary.Rejected:N0}");
        }
        else
        {
            var how = summary.Retried > 0 ? $" (retried {summary.Retried:N0} rejected row(s))" : summary.Resumed ? " (resumed)" : "";
            cli.Line($"{(summary.Completed ? "done" : "stopped")}: {summary.RowsDone:N0} row(s); accepted {summary.Accepted:N0}, duplicate {summary.Duplicates:N0}, late {summary.Late:N0}, rejected {summary.Rejected:N0}{how}");
        }

        foreach (var example in summary.RejectedExamples)
        {
            cli.Error.WriteLine($"rejected: {example}");
        }

        if (summary.Late > 0)
        {
            cli.Error.WriteLine("note: LATE events were older than a view's watermark minus its allowed_lateness; to backfill history into a view that already has newer events, raise allowed_lateness for the backfill (docs/offline.md, \"Backfill\")");
        }

        if (progressFile is not null && summary.Rejected > 0 && summary.Completed)
        {
            cli.Error.WriteLine($"{summary.Rejected:N0} row(s) were rejected and are recorded in {progressFile}; fix their cause (the definitions, or the file), then rerun with --retry-rejected to send only them, or with --restart to send the whole file again (cli/README.md, \"Backfill\")");
        }

        if (summary.Stopped)
        {
            cli.Error.WriteLine($"stopped; run the same command again to resume from row {summary.RowsDone:N0}");
        }

        return code;
    }
}
