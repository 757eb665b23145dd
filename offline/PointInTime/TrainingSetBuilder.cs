using System.Diagnostics;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Routing;
using OrleansFeatures.Core.Serving;
using OrleansFeatures.Offline.Files;
using Parquet;
using Parquet.Schema;

namespace OrleansFeatures.Offline.PointInTime;

/// <summary>
/// Builds a point-in-time training set: for every row of an entity table, each feature of a feature service as the
/// online store would have served it at the row's timestamp. Events go through the online path's own rules (schema,
/// admission, routing) and are replayed per entity, in arrival order, through the engine's
/// <see cref="FeatureViewState"/>; each row reads the state after every event that had arrived by its time.
/// Scales by hash-partitioning events and rows by entity key into spill files (docs/offline.md).
/// </summary>
public sealed class TrainingSetBuilder
{
    private readonly TrainingSetRequest _request;
    private readonly FeatureServiceDefinition _service;
    private readonly string _keyColumn;
    private readonly CompiledFeatureView[] _views;
    private readonly int[] _columnView;
    private readonly int[] _columnFeature;
    private readonly LookupColumns _columns;
    private readonly string[] _sources;
    private readonly bool[][] _viewFedBySource;
    private readonly Dictionary<string, CompiledFeatureView> _allViews = new(StringComparer.Ordinal);
    private readonly string _entityType;

    public TrainingSetBuilder(TrainingSetRequest request)
    {
        _request = request;
        var set = request.Definitions;
        if (!set.FeatureServices.TryGetValue(request.FeatureService, out var service))
        {
            throw new TrainingSetException($"feature service '{request.FeatureService}' is not defined");
        }

        if (!service.IsSingleEntityType)
        {
            // Rows of one entity table carry one entity's key; a service across entity types or with request fields
            // needs a key column per entity type and the request values per row (not built yet).
            throw new TrainingSetException(
                $"feature service '{service.Name}' reads entity types {string.Join(", ", service.EntityTypes)}{(service.HasRequestFields ? " and request fields" : "")}; training sets serve services of one entity type without request fields");
        }

        _service = service;
        _columns = LookupColumns.ForService(service);
        _entityType = service.EntityTypes[0];
        _keyColumn = request.KeyColumn ?? set.EntityTypes[_entityType].KeyField;
        foreach (var view in set.FeatureViews.Values)
        {
            try
            {
                _allViews[view.Name] = new CompiledFeatureView(view, request.FeatureTypes);
            }
            catch (FeatureTypeNotLoadedException exception) when (service.Features.All(f => f.View != view.Name))
            {
                // A view the service does not read is left out (its counts with it) rather than failing the build.
                _ = exception;
            }
            catch (FeatureTypeNotLoadedException exception)
            {
                throw new TrainingSetException($"{exception.Message}; pass the folder of its assembly with --feature-types");
            }
        }

        var views = new List<CompiledFeatureView>();
        _columnView = new int[service.Features.Count];
        _columnFeature = new int[service.Features.Count];
        for (var c = 0; c < service.Features.Count; c++)
        {
            var reference = service.Features[c];
            var view = _allViews[reference.View];
            var index = views.IndexOf(view);
            if (index < 0)
            {
                index = views.Count;
                views.Add(view);
            }

            _columnView[c] = index;
            _columnFeature[c] = view.IndexOf(reference.Feature);
        }

        _views = [.. views];
        _sources = [.. _views.Select(v => v.Definition.Source.Name).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        _viewFedBySource = new bool[_sources.Length][];
        for (var s = 0; s < _sources.Length; s++)
        {
            _viewFedBySource[s] = [.. _views.Select(v => string.Equals(v.Definition.Source.Name, _sources[s], StringComparison.Ordinal))];
        }

        foreach (var input in request.Events)
        {
            if (Array.IndexOf(_sources, input.Source) < 0)
            {
                throw new TrainingSetException(
                    $"events were given for source '{input.Source}', which feeds no view of feature service '{service.Name}' (its sources: {string.Join(", ", _sources)})");
            }
        }

        foreach (var source in _sources)
        {
            if (!request.Events.Any(e => string.Equals(e.Source, source, StringComparison.Ordinal)))
            {
                throw new TrainingSetException($"no events were given for source '{source}', which feeds feature service '{service.Name}'");
            }
        }

        if (request.Partitions < 1)
        {
            throw new TrainingSetException("partitions must be at least 1");
        }
    }

    /// <summary>
    /// The output's feature columns, in service order: <c>view:feature</c> (or a derived column's name) and
    /// <c>view:feature:status</c>.
    /// </summary>
    public IReadOnlyList<string> FeatureColumns => [.. _columns.Names.SelectMany(f => new[] { f, $"{f}:status" })];

    public async Task<TrainingSetResult> BuildAsync(CancellationToken cancellationToken = default)
    {
        var result = new TrainingSetResult();
        using var spill = new SpillFiles(_request.TempDirectory, _request.Partitions);
        var clock = Stopwatch.StartNew();
        await PartitionEventsAsync(spill, result, cancellationToken);
        var labels = await PartitionLabelsAsync(spill, result, cancellationToken);
        result.PartitionTime = clock.Elapsed;

        clock.Restart();
        await ReplayAsync(spill, labels, result, cancellationToken);
        result.ReplayTime = clock.Elapsed;

        clock.Restart();
        result.Columns = await WriteAsync(spill, labels, result, cancellationToken);
        result.WriteTime = clock.Elapsed;
        result.PeakWorkingSetBytes = PeakWorkingSet();
        return result;
    }

    private async Task PartitionEventsAsync(SpillFiles spill, TrainingSetResult result, CancellationToken cancellationToken)
    {
        var writers = new BinaryWriter[spill.Partitions];
        for (var p = 0; p < writers.Length; p++)
        {
            writers[p] = SpillFiles.Create(spill.Events(p));
        }

        try
        {
            var plan = RoutingPlan.Compile(_request.Definitions);
            var entities = new List<EntityRef>(4);
            long sequence = 0;
            foreach (var input in _request.Events)
            {
                var sourceIndex = Array.IndexOf(_sources, input.Source);
                var route = plan.ForSource(input.Source)!;
                var source = route.Source;
                var layout = EventSchema.LayoutOf(source);
                var fedViews = _allViews.Values.Where(v => string.Equals(v.Definition.Source.Name, source.Name, StringComparison.Ordinal)).ToList();
                await foreach (var item in SourceEvents.ReadAsync(input.Path, source, _request.ArrivalField, cancellationToken))
                {
                    result.EventsRead++;
                    if (result.EventsRead % 100_000 == 0)
                    {
                        _request.Progress?.Report(new TrainingSetProgress("reading events", result.EventsRead, null));
                    }

                    if (item.Event is not { } featureEvent)
                    {
                        Reject(result, item.Where, item.Error!);
                        continue;
                    }

                    // Admitted and routed as of its arrival (or its own time when there is no arrival time), as the store
                    // would have: core's entrance, with the policy of the entrance the event came through (tables as
                    // pushes: an event no view reads, or without a key, is rejected; Capture as the Event Hubs stream).
                    var order = item.ArrivalMs ?? featureEvent.TimestampMs;
                    entities.Clear();
                    var verdict = EventEntrance.Admit(new EntranceRoute(route, fedViews, item.Policy, _request.Limits), featureEvent, item.TransportKey, item.ArrivalMs, entities);
                    if (verdict.Decision != RouteDecision.Routed)
                    {
                        Reject(result, item.Where, verdict.Reason ?? $"no feature view reads source '{source.Name}'");
                        continue;
                    }

                    var position = sequence++;
                    foreach (var entity in entities)
                    {
                        if (!string.Equals(entity.EntityType, _entityType, StringComparison.Ordinal))
                        {
                            continue;
                        }

                        result.EventsRouted++;
                        if (_request.Shard is { } shard && !shard.Contains(entity.EntityId))
                        {
                            result.EventsOfOtherShards++;
                            continue;
                        }

                        var writer = writers[spill.PartitionOf(entity.EntityId)];
                        writer.Write(entity.EntityId);
                        writer.Write(order);
                        writer.Write(position);
                        writer.Write((byte)sourceIndex);
                        writer.Write(featureEvent.EventId);
                        writer.Write(featureEvent.TimestampMs);
                        var slots = ((SchemaFields)featureEvent.Fields).Slots;
                        for (var s = 0; s < layout.Names.Count; s++)
                        {
                            ScalarCodec.Write(writer, slots[s]);
                        }
                    }
                }
            }
        }
        finally
        {
            foreach (var writer in writers)
            {
                writer.Dispose();
            }
        }
    }

    private static void Reject(TrainingSetResult result, string where, string reason)
    {
        result.EventsRejected++;
        if (result.RejectedExamples.Count < 20)
        {
            result.RejectedExamples.Add($"{where}: {reason}");
        }
    }

    private async Task<LabelColumns> PartitionLabelsAsync(SpillFiles spill, TrainingSetResult result, CancellationToken cancellationToken)
    {
        var columns = new LabelColumns();
        var writers = new BinaryWriter[spill.Partitions];
        for (var p = 0; p < writers.Length; p++)
        {
            writers[p] = SpillFiles.Create(spill.Labels(p));
        }

        var errors = new List<string>();
        try
        {
            long rowIndex = 0;
            long labelRows = 0;
            // Keys and labels pass through as written: only the key (text) and the time are given a type.
            var declared = new Dictionary<string, ScalarKind>(StringComparer.Ordinal) { [_keyColumn] = ScalarKind.String, [_request.TimestampColumn] = ScalarKind.Int64 };
            IReadOnlyList<string>? header = null;
            await foreach (var row in TableReader.ReadAsync(_request.EntityTable, declared, skipUndeclaredNested: false, cancellationToken))
            {
                if (row.Columns is { } fileColumns && !ReferenceEquals(fileColumns, header))
                {
                    header = fileColumns;
                    columns.Declare(fileColumns, _keyColumn, _request.TimestampColumn);
                }

                if (row.Error is { } unreadable)
                {
                    AddError(errors, $"{row.Where}: {unreadable}");
                    continue;
                }

                if (!row.Fields.TryGetValue(_keyColumn, out var keyValue) || keyValue.Kind is not (ScalarKind.String or ScalarKind.Int64) || keyValue.ToString().Length == 0)
                {
                    AddError(errors, $"{row.Where}: no entity key in column '{_keyColumn}'");
                    continue;
                }

                if (!row.Fields.TryGetValue(_request.TimestampColumn, out var timeValue) || !EventSchema.TryReadTimestamp(timeValue, out var timestampMs))
                {
                    AddError(errors, $"{row.Where}: no timestamp (Unix ms or ISO-8601) in column '{_request.TimestampColumn}'");
                    continue;
                }

                var key = keyValue.ToString();
                var labels = columns.Collect(row.Fields, _keyColumn, _request.TimestampColumn);
                if (_request.Shard is { } shard && !shard.Contains(key))
                {
                    // Another shard's row: its labels still shape the columns, so every shard writes one schema.
                    rowIndex++;
                    continue;
                }

                var writer = writers[spill.PartitionOf(key)];
                writer.Write(rowIndex++);
                writer.Write(key);
                writer.Write(timestampMs);
                labelRows++;
                writer.Write(labels.Count);
                foreach (var (column, value) in labels)
                {
                    writer.Write(column);
                    ScalarCodec.Write(writer, value);
                }

                if (rowIndex % 100_000 == 0)
                {
                    _request.Progress?.Report(new TrainingSetProgress("reading entity table", rowIndex, null));
                }
            }

            result.LabelRows = labelRows;
            result.EntityTableRows = rowIndex;
        }
        finally
        {
            foreach (var writer in writers)
            {
                writer.Dispose();
            }
        }

        if (errors.Count > 0)
        {
            throw new TrainingSetException($"entity table {_request.EntityTable}: {string.Join(Environment.NewLine, errors)}");
        }

        foreach (var feature in FeatureColumns)
        {
            if (columns.IndexOf(feature) >= 0 || feature == _keyColumn || feature == _request.TimestampColumn)
            {
                throw new TrainingSetException($"entity table column '{feature}' has the name of a feature column of the output");
            }
        }

        return columns;
    }

    private static void AddError(List<string> errors, string error)
    {
        if (errors.Count < 20)
        {
            errors.Add(error);
        }
    }

    private async Task ReplayAsync(SpillFiles spill, LabelColumns labels, TrainingSetResult result, CancellationToken cancellationToken)
    {
        long done = 0;
        var gate = new object();
        await Parallel.ForEachAsync(
            Enumerable.Range(0, spill.Partitions),
            new ParallelOptions { MaxDegreeOfParallelism = _request.Parallelism, CancellationToken = cancellationToken },
            (partition, token) =>
            {
                var counts = ReplayPartition(spill, partition, labels, token);
                lock (gate)
                {
                    result.Accepted += counts.Accepted;
                    result.Duplicates += counts.Duplicates;
                    result.Late += counts.Late;
                    result.Entities += counts.Entities;
                    result.EventsAfterLastRow += counts.AfterLastRow;
                    result.EventsOfEntitiesWithoutRows += counts.WithoutRows;
                    done++;
                    _request.Progress?.Report(new TrainingSetProgress("replaying partitions", done, spill.Partitions));
                }

                return ValueTask.CompletedTask;
            });
    }

    private ReplayCounts ReplayPartition(SpillFiles spill, int partition, LabelColumns labels, CancellationToken cancellationToken)
    {
        var events = ReadEvents(spill.Events(partition));
        var rows = ReadLabels(spill.Labels(partition), labels);
        File.Delete(spill.Events(partition));
        File.Delete(spill.Labels(partition));

        // Arrival order per entity; equal arrival times keep the input order, as a push applies a batch in order.
        events.Sort(static (a, b) =>
        {
            var byEntity = string.CompareOrdinal(a.EntityId, b.EntityId);
            return byEntity != 0 ? byEntity : a.Order != b.Order ? a.Order.CompareTo(b.Order) : a.Position.CompareTo(b.Position);
        });
        rows.Sort(static (a, b) =>
        {
            var byEntity = string.CompareOrdinal(a.EntityId, b.EntityId);
            return byEntity != 0 ? byEntity : a.TimestampMs != b.TimestampMs ? a.TimestampMs.CompareTo(b.TimestampMs) : a.Row.CompareTo(b.Row);
        });

        var counts = new ReplayCounts();
        var results = new List<ResultRow>(rows.Count);
        var states = new FeatureViewState?[_views.Length];
        var read = new FeatureReading[_columnView.Length];
        var answered = new FeatureReading[_columns.Count];
        var e = 0;
        var r = 0;
        while (r < rows.Count)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entityId = rows[r].EntityId;
            counts.Entities++;

            // Events of entities no row asks for are never replayed.
            while (e < events.Count && string.CompareOrdinal(events[e].EntityId, entityId) < 0)
            {
                e++;
                counts.WithoutRows++;
            }

            Array.Clear(states);
            for (; r < rows.Count && string.Equals(rows[r].EntityId, entityId, StringComparison.Ordinal); r++)
            {
                var row = rows[r];
                while (e < events.Count && string.Equals(events[e].EntityId, entityId, StringComparison.Ordinal) && events[e].Order <= row.TimestampMs)
                {
                    Apply(events[e++], states, ref counts);
                }

                for (var c = 0; c < read.Length; c++)
                {
                    read[c] = states[_columnView[c]] is { } state
                        ? state.Read(_columnFeature[c], row.TimestampMs)
                        : new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0);
                }

                // Derived columns from the readings as served: the lookup's own rule (core's LookupColumns.Derive).
                _columns.Derive(read, answered, 1);
                var values = new ServedValue[answered.Length];
                for (var c = 0; c < values.Length; c++)
                {
                    values[c] = ServedValue.Serve(answered[c], _columns.Defaults[c]);
                }

                results.Add(new ResultRow(row, values));
            }

            // The rest of this entity's events arrived after its last row: skip them.
            while (e < events.Count && string.Equals(events[e].EntityId, entityId, StringComparison.Ordinal))
            {
                e++;
                counts.AfterLastRow++;
            }
        }

        counts.WithoutRows += events.Count - e;

        results.Sort(static (a, b) => a.Label.Row.CompareTo(b.Label.Row));
        using (var writer = SpillFiles.Create(spill.Results(partition)))
        {
            writer.Write(results.Count);
            foreach (var result in results)
            {
                writer.Write(result.Label.Row);
                writer.Write(result.Label.EntityId);
                writer.Write(result.Label.TimestampMs);
                writer.Write(result.Label.Labels.Length);
                foreach (var (column, value) in result.Label.Labels)
                {
                    writer.Write(column);
                    ScalarCodec.Write(writer, value);
                }

                foreach (var value in result.Values)
                {
                    ScalarCodec.Write(writer, value.Value);
                    writer.Write((byte)value.Status);
                    writer.Write(value.EventTimeMs);
                }
            }
        }

        return counts;
    }

    private void Apply(SpilledEvent spilled, FeatureViewState?[] states, ref ReplayCounts counts)
    {
        // An entity applies an event to every view of its type fed by the event's source, as the entity grain does.
        var fed = _viewFedBySource[spilled.SourceIndex];
        for (var v = 0; v < _views.Length; v++)
        {
            if (!fed[v])
            {
                continue;
            }

            var state = states[v] ??= new FeatureViewState(_views[v]);
            switch (state.Apply(spilled.Event, spilled.Order))
            {
                case ApplyOutcome.Accepted:
                    counts.Accepted++;
                    break;
                case ApplyOutcome.Duplicate:
                    counts.Duplicates++;
                    break;
                default:
                    counts.Late++;
                    break;
            }
        }
    }

    private List<SpilledEvent> ReadEvents(string path)
    {
        var events = new List<SpilledEvent>();
        var layouts = _sources.Select(s => EventSchema.LayoutOf(_request.Definitions.Sources[s])).ToArray();
        using var reader = SpillFiles.ReadAll(path);
        var stream = reader.BaseStream;
        while (stream.Position < stream.Length)
        {
            var entityId = reader.ReadString();
            var order = reader.ReadInt64();
            var position = reader.ReadInt64();
            var sourceIndex = reader.ReadByte();
            var eventId = reader.ReadString();
            var timestampMs = reader.ReadInt64();
            var layout = layouts[sourceIndex];
            var slots = new ScalarValue[layout.Names.Count];
            for (var s = 0; s < slots.Length; s++)
            {
                slots[s] = ScalarCodec.Read(reader);
            }

            events.Add(new SpilledEvent(entityId, order, position, sourceIndex, new FeatureEvent(eventId, timestampMs, new SchemaFields(layout, slots))));
        }

        return events;
    }

    private static List<LabelRow> ReadLabels(string path, LabelColumns columns)
    {
        var rows = new List<LabelRow>();
        using var reader = SpillFiles.ReadAll(path);
        var stream = reader.BaseStream;
        while (stream.Position < stream.Length)
        {
            rows.Add(ReadLabel(reader, columns));
        }

        return rows;
    }

    private static LabelRow ReadLabel(BinaryReader reader, LabelColumns columns)
    {
        var row = reader.ReadInt64();
        var entityId = reader.ReadString();
        var timestampMs = reader.ReadInt64();
        var labels = new (string, ScalarValue)[reader.ReadInt32()];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = (columns.Intern(reader.ReadString()), ScalarCodec.Read(reader));
        }

        return new LabelRow(row, entityId, timestampMs, labels);
    }

    /// <summary>Merges the partitions' results (each sorted by row) back into entity-table order, one row group at a time.</summary>
    private async Task<IReadOnlyList<string>> WriteAsync(SpillFiles spill, LabelColumns labels, TrainingSetResult result, CancellationToken cancellationToken)
    {
        var fields = new List<DataField> { new DataField<string>(_keyColumn, true), new DataField<long>(_request.TimestampColumn) };
        var kinds = new List<ScalarKind> { ScalarKind.String, ScalarKind.Int64 };
        foreach (var (name, kind) in labels.Columns)
        {
            fields.Add(ParquetColumns.FieldFor(name, kind));
            kinds.Add(kind);
        }

        var firstFeature = fields.Count;
        foreach (var column in _service.Columns)
        {
            var kind = column.Feature is { } reference
                ? _allViews[reference.View].Features[_allViews[reference.View].IndexOf(reference.Feature)].ResultKind
                : column.Type;
            fields.Add(ParquetColumns.FieldFor(column.Name, kind));
            kinds.Add(kind);
            fields.Add(ParquetColumns.FieldFor($"{column.Name}:status", ScalarKind.String));
            kinds.Add(ScalarKind.String);
        }

        var readers = new BinaryReader[spill.Partitions];
        var remaining = new int[spill.Partitions];
        var heads = new ResultRow?[spill.Partitions];
        var queue = new PriorityQueue<int, long>();
        try
        {
            for (var p = 0; p < readers.Length; p++)
            {
                readers[p] = SpillFiles.Open(spill.Results(p));
                remaining[p] = readers[p].ReadInt32();
                if (Next(p) is { } head)
                {
                    queue.Enqueue(p, head.Label.Row);
                }
            }

            var directory = Path.GetDirectoryName(Path.GetFullPath(_request.Output));
            if (directory is not null)
            {
                Directory.CreateDirectory(directory);
            }

            await using var output = new FileStream(_request.Output, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
            await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), output, cancellationToken: cancellationToken);
            var size = (int)Math.Max(1, Math.Min(_request.RowGroupSize, Math.Max(1, result.LabelRows)));
            var buffer = new ScalarValue[fields.Count][];
            for (var c = 0; c < buffer.Length; c++)
            {
                buffer[c] = new ScalarValue[size];
            }

            var count = 0;
            long written = 0;
            while (queue.TryDequeue(out var partition, out _))
            {
                var row = heads[partition]!;
                buffer[0][count] = ScalarValue.FromString(row.Label.EntityId);
                buffer[1][count] = ScalarValue.FromInt64(row.Label.TimestampMs);
                for (var c = 2; c < firstFeature; c++)
                {
                    buffer[c][count] = ScalarValue.Null;
                }

                foreach (var (column, value) in row.Label.Labels)
                {
                    buffer[2 + labels.IndexOf(column)][count] = value;
                }

                for (var f = 0; f < row.Values.Length; f++)
                {
                    buffer[firstFeature + (2 * f)][count] = row.Values[f].Value;
                    buffer[firstFeature + (2 * f) + 1][count] = ScalarValue.FromString(StatusName(row.Values[f].Status));
                }

                count++;
                if (Next(partition) is { } head)
                {
                    queue.Enqueue(partition, head.Label.Row);
                }

                if (count == size)
                {
                    await WriteGroupAsync(writer, fields, kinds, buffer, count, cancellationToken);
                    written += count;
                    count = 0;
                    _request.Progress?.Report(new TrainingSetProgress("writing", written, result.LabelRows));
                }
            }

            if (count > 0 || written == 0)
            {
                await WriteGroupAsync(writer, fields, kinds, buffer, count, cancellationToken);
            }
        }
        finally
        {
            foreach (var reader in readers)
            {
                reader?.Dispose();
            }
        }

        return [.. fields.Select(f => f.Name)];

        ResultRow? Next(int p)
        {
            if (remaining[p] == 0)
            {
                heads[p] = null;
                return null;
            }

            remaining[p]--;
            var reader = readers[p];
            var label = ReadLabel(reader, labels);
            var values = new ServedValue[_columns.Count];
            for (var c = 0; c < values.Length; c++)
            {
                var value = ScalarCodec.Read(reader);
                var status = (ServedStatus)reader.ReadByte();
                values[c] = new ServedValue(value, status, reader.ReadInt64());
            }

            return heads[p] = new ResultRow(label, values);
        }
    }

    private static async Task WriteGroupAsync(ParquetWriter writer, List<DataField> fields, List<ScalarKind> kinds, ScalarValue[][] buffer, int count, CancellationToken cancellationToken)
    {
        using var group = writer.CreateRowGroup();
        for (var c = 0; c < fields.Count; c++)
        {
            if (c == 1)
            {
                var times = new long[count];
                for (var i = 0; i < count; i++)
                {
                    times[i] = buffer[c][i].AsInt64;
                }

                await group.WriteAsync<long>(fields[c], times.AsMemory(), null, null, cancellationToken);
                continue;
            }

            await ParquetColumns.WriteAsync(group, fields[c], kinds[c], buffer[c], count, cancellationToken);
        }
    }

    /// <summary>The wire names of <c>FeatureStatus</c> without the prefix, as <c>ofs get</c> prints them.</summary>
    public static string StatusName(ServedStatus status) => status switch
    {
        ServedStatus.Present => "PRESENT",
        ServedStatus.NotFound => "NOT_FOUND",
        ServedStatus.Expired => "EXPIRED",
        _ => "DEFAULTED",
    };

    private static long PeakWorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }

    private readonly record struct SpilledEvent(string EntityId, long Order, long Position, byte SourceIndex, FeatureEvent Event);

    private sealed record LabelRow(long Row, string EntityId, long TimestampMs, (string Column, ScalarValue Value)[] Labels);

    private sealed record ResultRow(LabelRow Label, ServedValue[] Values);

    private struct ReplayCounts
    {
        public long Accepted;
        public long Duplicates;
        public long Late;
        public long Entities;
        public long AfterLastRow;
        public long WithoutRows;
    }
}
