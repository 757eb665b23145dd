using System.Text.Json;
using System.Text.Json.Serialization;
using Grpc.Core;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Offline.Capture;
using OrleansFeatures.Offline.Files;
using OrleansFeatures.V1;

namespace OrleansFeatures.Cli.Commands;

/// <summary>
/// Sends the events of a file through the push API in batches, in file order. Events the store reports FAILED are
/// retried (duplicates are absorbed by event id); with a progress file, the count of rows whose batch completed is
/// saved after every batch, so a stopped run resumes where it stopped and a repeated run changes nothing.
/// </summary>
public sealed class EventPusher(StoreConnection store, CliOutput cli)
{
    private const int MaxAttempts = 6;

    public int BatchSize { get; init; } = 1000;

    public string? ProgressFile { get; init; }

    /// <summary>Stop (as if cancelled, progress saved) once this run has sent this many rows: a backfill in slices.</summary>
    public long? StopAfterRows { get; init; }

    /// <summary>Ignore the saved progress and send the whole file again (event ids make repeats DUPLICATE).</summary>
    public bool Restart { get; init; }

    /// <summary>Send again only the rows the saved progress records as rejected, e.g. after the definitions were fixed.</summary>
    public bool RetryRejected { get; init; }

    /// <param name="identity">What the progress file records as the input (a lake URI staged to <paramref name="path"/>); default the full path.</param>
    public async Task<PushSummary> RunAsync(string source, string path, CancellationToken cancellationToken, string? identity = null)
    {
        var list = await store.Registry.ListDefinitionsAsync(new ListDefinitionsRequest(), cancellationToken: cancellationToken);
        var sourceInfo = list.Sources.FirstOrDefault(s => s.Name == source)
            ?? throw new ArgumentException($"source '{source}' is not defined in the store (registry version {list.RegistryVersion})");
        var kinds = TableReader.EventColumns(
            sourceInfo.Fields.ToDictionary(f => f.Key, f => KindOf(f.Value), StringComparer.Ordinal), sourceInfo.TimestampField, sourceInfo.EventIdField);

        var summary = new PushSummary { Source = source, File = identity ?? Path.GetFullPath(path) };
        long skip = 0;
        HashSet<long>? retry = null;
        if (ProgressFile is { } progressPath && File.Exists(progressPath) && !Restart)
        {
            var saved = JsonSerializer.Deserialize<PushSummary>(await File.ReadAllTextAsync(progressPath, cancellationToken))
                ?? throw new InvalidDataException($"{progressPath}: not a progress file");
            if (saved.Source != summary.Source || saved.File != summary.File)
            {
                throw new InvalidDataException($"{progressPath} records a backfill of {saved.File} into '{saved.Source}', not {summary.File} into '{source}'; pass another --progress-file");
            }

            summary = saved;
            summary.Resumed = true;
            summary.Stopped = false;
            skip = saved.RowsDone;
            if (RetryRejected)
            {
                if (!saved.Completed)
                {
                    throw new InvalidDataException($"{progressPath}: the backfill is not complete; run it to the end first (rerun without --retry-rejected), then retry its rejected rows");
                }

                // Only the recorded rows are read and sent; their new outcomes replace the old rejections.
                retry = [.. saved.RejectedRows];
                summary.Retried = retry.Count;
                summary.Rejected = 0;
                summary.RejectedExamples.Clear();
                summary.RejectedRows.Clear();
                skip = 0;
            }
            else if (saved.Completed)
            {
                // Nothing left to send; the caller says what was rejected and how to retry or restart.
                summary.AlreadyComplete = true;
                return summary;
            }
        }
        else if (RetryRejected)
        {
            throw new InvalidDataException($"no progress file at {ProgressFile}: nothing records rejected rows to retry");
        }

        long? total = null;
        IAsyncEnumerable<TableRow> rows;
        if (CaptureReader.IsCapture(path))
        {
            // Event Hubs Capture: each record mapped as the live Event Hubs entrance maps it (body, properties, partition key).
            rows = CaptureRows.Read(path, await RouteOfAsync(source, cancellationToken), cancellationToken).ToAsyncEnumerable();
        }
        else
        {
            if (TableFiles.Expand(path).All(f => TableFiles.FormatOf(f) == TableFormat.JsonLines))
            {
                total = TableFiles.Expand(path).Sum(CountLines);
            }

            rows = TableReader.ReadAsync(path, kinds, cancellationToken: cancellationToken);
        }

        using var progress = cli.Progress(ProgressFile is null ? "push" : "backfill");
        var batch = new List<(Event Event, string Where, long Row)>(BatchSize);
        long row = 0;
        await foreach (var tableRow in rows.WithCancellation(cancellationToken))
        {
            if (row++ < skip || (retry is not null && !retry.Contains(row)))
            {
                continue;
            }

            if (tableRow.Error is { } error)
            {
                // Counted with the batch it falls in, so a resumed run neither repeats nor loses it.
                summary.AddRejection($"{tableRow.Where}: {error}", row);
                batch.Add((null!, tableRow.Where, row));
            }
            else
            {
                batch.Add((ToEvent(tableRow.Fields), tableRow.Where, row));
            }

            if (batch.Count == BatchSize)
            {
                await SendAsync(source, batch, summary, countRows: retry is null, cancellationToken);

                // A retry saves once, at its end: stopped midway, the progress still lists every row to retry.
                if (retry is null)
                {
                    await SaveAsync(summary, cancellationToken);
                }

                progress.Report(summary.RowsDone, total, $"accepted {summary.Accepted:N0}, duplicate {summary.Duplicates:N0}, late {summary.Late:N0}, rejected {summary.Rejected:N0}");
                batch.Clear();
                if (cancellationToken.IsCancellationRequested || summary.RowsDone - skip >= StopAfterRows)
                {
                    summary.Stopped = true;
                    return summary;
                }
            }
        }

        if (batch.Count > 0)
        {
            await SendAsync(source, batch, summary, countRows: retry is null, cancellationToken);
            await SaveAsync(summary, cancellationToken);
        }

        progress.Report(summary.RowsDone, summary.RowsDone);
        summary.Completed = true;
        await SaveAsync(summary, cancellationToken);
        return summary;
    }

    // countRows: false for a retry of rejected rows, which the run that first sent them counted in RowsDone.
    private async Task SendAsync(string source, List<(Event Event, string Where, long Row)> batch, PushSummary summary, bool countRows, CancellationToken cancellationToken)
    {
        var pending = new List<int>();
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i].Event is not null)
            {
                pending.Add(i);
            }
        }

        for (var attempt = 1; pending.Count > 0; attempt++)
        {
            var request = new PushEventsRequest { Source = source };
            foreach (var index in pending)
            {
                request.Events.Add(batch[index].Event);
            }

            PushEventsResponse response;
            try
            {
                // Not cancelled mid-call: a batch either completes and is recorded, or is sent again on resume.
                response = await store.Ingestion.PushEventsAsync(request, cancellationToken: CancellationToken.None);
            }
            catch (RpcException rpc) when (rpc.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal && attempt < MaxAttempts)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), CancellationToken.None);
                continue;
            }

            var failed = new List<int>();
            foreach (var result in response.Results)
            {
                var index = pending[result.Index];
                switch (result.Status)
                {
                    case EventStatus.Accepted:
                        summary.Accepted++;
                        break;
                    case EventStatus.Duplicate:
                        summary.Duplicates++;
                        break;
                    case EventStatus.Late:
                        summary.Late++;
                        break;
                    // Sent again with the same id: an event whose outcome is unknown answers DUPLICATE if it was applied.
                    case EventStatus.Failed or EventStatus.UnknownOutcome:
                        failed.Add(index);
                        break;
                    default:
                        summary.AddRejection($"{batch[index].Where}: {result.Reason}", batch[index].Row);
                        break;
                }
            }

            if (failed.Count > 0 && attempt >= MaxAttempts)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, $"{failed.Count} event(s) still FAILED or UNKNOWN_OUTCOME after {MaxAttempts} attempts (first at {batch[failed[0]].Where}); run the command again to resume"));
            }

            if (failed.Count > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), CancellationToken.None);
            }

            pending = failed;
        }

        if (countRows)
        {
            summary.RowsDone += batch.Count;
        }
    }

    private async Task SaveAsync(PushSummary summary, CancellationToken cancellationToken)
    {
        if (ProgressFile is not { } path)
        {
            return;
        }

        // Written aside and renamed, so a crash leaves the previous progress intact.
        var temporary = path + ".tmp";
        await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(summary), CancellationToken.None);
        File.Move(temporary, path, overwrite: true);
        _ = cancellationToken;
    }

    private async Task<SourceRoute> RouteOfAsync(string source, CancellationToken cancellationToken)
    {
        var current = await store.Registry.GetDefinitionsAsync(new GetDefinitionsRequest(), cancellationToken: cancellationToken);
        var loaded = DefinitionLoader.Load([.. current.Documents.Select(d => new Core.Definitions.DefinitionDocument(d.Name, d.Yaml))]);
        var set = loaded.Set ?? throw new InvalidDataException($"the store's definitions do not load here: {string.Join("; ", loaded.Errors)}");
        return RoutingPlan.Compile(set).ForSource(source) ?? throw new ArgumentException($"source '{source}' is not defined in the store");
    }

    private static Event ToEvent(IReadOnlyDictionary<string, ScalarValue> fields)
    {
        var pushed = new Event();
        foreach (var (name, value) in fields)
        {
            pushed.Fields[name] = value.Kind switch
            {
                ScalarKind.Int64 => new Value { Int64Value = value.AsInt64 },
                ScalarKind.Double => new Value { DoubleValue = value.AsDouble },
                ScalarKind.Bool => new Value { BoolValue = value.AsBool },
                _ => new Value { StringValue = value.ToString() },
            };
        }

        return pushed;
    }

    private static ScalarKind KindOf(V1.ValueType type) => type switch
    {
        V1.ValueType.Int64 => ScalarKind.Int64,
        V1.ValueType.Double => ScalarKind.Double,
        V1.ValueType.Bool => ScalarKind.Bool,
        _ => ScalarKind.String,
    };

    private static long CountLines(string file)
    {
        long lines = 0;
        using var stream = File.OpenRead(file);
        var buffer = new byte[1 << 16];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
        }

        return lines;
    }
}

/// <summary>What a push or backfill did; also the progress file's content.</summary>
public sealed class PushSummary
{
    public string Source { get; set; } = "";

    public string File { get; set; } = "";

    /// <summary>Rows of the file whose batch completed (read errors included): where a resumed run starts.</summary>
    public long RowsDone { get; set; }

    public long Accepted { get; set; }

    public long Duplicates { get; set; }

    public long Late { get; set; }

    public long Rejected { get; set; }

    public List<string> RejectedExamples { get; set; } = [];

    /// <summary>The file rows (1-based) that were rejected: what <c>--retry-rejected</c> sends again.</summary>
    public List<long> RejectedRows { get; set; } = [];

    public bool Completed { get; set; }

    public bool Resumed { get; set; }

    public bool Stopped { get; set; }

    /// <summary>This run found the backfill complete in its progress file and sent nothing.</summary>
    [JsonIgnore]
    public bool AlreadyComplete { get; set; }

    /// <summary>Rows this run sent again with <c>--retry-rejected</c>.</summary>
    [JsonIgnore]
    public long Retried { get; set; }

    public void AddRejection(string reason, long row)
    {
        Rejected++;
        RejectedRows.Add(row);
        if (RejectedExamples.Count < 10)
        {
            RejectedExamples.Add(reason);
        }
    }
}
