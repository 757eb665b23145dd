using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Serving;

/// <summary>
/// A validated GetInferenceInputs request, shaped for <see cref="InferenceMatrix.Build"/>: per entity type the
/// distinct ids (each read once) and each row's index among them; per request field its values.
/// </summary>
public sealed class InferenceBatch
{
    private InferenceBatch(int rows, List<string>[] distinctIds, int[][] rowEntities, ScalarValue[][] requestValues)
    {
        Rows = rows;
        DistinctIds = distinctIds;
        RowEntities = rowEntities;
        RequestValues = requestValues;
    }

    public int Rows { get; }

    public List<string>[] DistinctIds { get; }

    public int[][] RowEntities { get; }

    public ScalarValue[][] RequestValues { get; }

    /// <summary>
    /// Validates a request's entity key columns and request field columns against <paramref name="plan"/>. Returns
    /// the batch, or null and an INVALID_ARGUMENT error naming the first bad field.
    /// </summary>
    public static InferenceBatch? Parse(
        InferencePlan plan,
        IReadOnlyList<EntityKeyColumn> entities,
        IReadOnlyList<RequestFieldColumn> requestFields,
        int maxRows,
        int maxKeyLength,
        out RequestError? error)
    {
        error = null;
        var slots = plan.Entities;
        var columns = new EntityKeyColumn?[slots.Count];
        var columnIndex = new int[slots.Count];
        var rows = 0;
        for (var i = 0; i < entities.Count; i++)
        {
            var column = entities[i];
            var slot = plan.SlotOf(column.EntityType);
            if (slot < 0)
            {
                return Fail(out error,
                    $"entities[{i}].entity_type", $"'{EchoedText.Shorten(column.EntityType)}' is not read by feature_service '{plan.Service.Name}' (it reads {Describe(plan.Service.EntityTypes)})");
            }

            if (columns[slot] is not null)
            {
                return Fail(out error, $"entities[{i}].entity_type", $"entity type '{column.EntityType}' is given twice (also entities[{columnIndex[slot]}])");
            }

            columns[slot] = column;
            columnIndex[slot] = i;
            rows = Math.Max(rows, column.Ids.Count);
        }

        for (var s = 0; s < slots.Count; s++)
        {
            if (columns[s] is null)
            {
                return Fail(out error, "entities", $"feature_service '{plan.Service.Name}' reads entity type '{slots[s].EntityType}', and no column gives its ids");
            }
        }

        var fields = new RequestFieldColumn?[plan.RequestFields.Count];
        var fieldIndex = new int[fields.Length];
        for (var i = 0; i < requestFields.Count; i++)
        {
            var column = requestFields[i];
            var field = plan.RequestFieldIndex(column.Name);
            if (field < 0)
            {
                return Fail(out error,
                    $"request_fields[{i}].name", $"'{EchoedText.Shorten(column.Name)}' is not a request field of feature_service '{plan.Service.Name}' (it declares {Describe(plan.RequestFields.Select(f => f.Name).ToList())})");
            }

            if (fields[field] is not null)
            {
                return Fail(out error, $"request_fields[{i}].name", $"'{column.Name}' is given twice (also request_fields[{fieldIndex[field]}])");
            }

            fields[field] = column;
            fieldIndex[field] = i;
            rows = Math.Max(rows, column.Values.Count);
        }

        if (rows == 0)
        {
            return Fail(out error, "entities", "must give at least one row of ids");
        }

        if (rows > maxRows)
        {
            return Fail(out error, "entities", $"the request has {rows} rows; the limit is {maxRows} (FeatureStore:Limits:MaxEntitiesPerRequest)");
        }

        var distinct = new List<string>[slots.Count];
        var rowEntities = new int[slots.Count][];
        for (var s = 0; s < slots.Count; s++)
        {
            var ids = columns[s]!.Ids;
            var at = $"entities[{columnIndex[s]}]";
            if (ids.Count != 1 && ids.Count != rows)
            {
                return Fail(out error, $"{at}.ids", $"has {ids.Count} ids; it needs one per row ({rows}) or a single id for every row");
            }

            distinct[s] = new List<string>(ids.Count);
            rowEntities[s] = new int[ids.Count];
            var seen = ids.Count > 1 ? new Dictionary<string, int>(ids.Count, StringComparer.Ordinal) : null;
            for (var r = 0; r < ids.Count; r++)
            {
                var id = ids[r];
                if (string.IsNullOrWhiteSpace(id))
                {
                    return Fail(out error, $"{at}.ids[{r}]", "is empty");
                }

                if (id.Length > maxKeyLength)
                {
                    return Fail(out error, $"{at}.ids[{r}]", $"is {id.Length} characters; the limit is {maxKeyLength} (FeatureStore:Limits:MaxKeyLength)");
                }

                if (seen is null || !seen.TryGetValue(id, out var entity))
                {
                    entity = distinct[s].Count;
                    distinct[s].Add(id);
                    seen?.Add(id, entity);
                }

                rowEntities[s][r] = entity;
            }
        }

        var requestValues = new ScalarValue[fields.Length][];
        for (var f = 0; f < fields.Length; f++)
        {
            var field = plan.RequestFields[f];
            if (fields[f] is not { } column)
            {
                requestValues[f] = [ScalarValue.Null];
                continue;
            }

            var at = $"request_fields[{fieldIndex[f]}]";
            if (column.Values.Count != 1 && column.Values.Count != rows)
            {
                return Fail(out error, $"{at}.values", $"has {column.Values.Count} values; it needs one per row ({rows}) or a single value for every row");
            }

            var values = new ScalarValue[column.Values.Count];
            for (var r = 0; r < values.Length; r++)
            {
                var value = column.Values[r];
                if (!value.IsNull && value.Kind != field.Type && !(field.Type == ScalarKind.Double && value.Kind == ScalarKind.Int64))
                {
                    return Fail(out error,
                        $"{at}.values[{r}]", $"is {EventSchema.KindName(value.Kind)}; request field '{field.Name}' is {EventSchema.KindName(field.Type)}");
                }

                values[r] = value;
            }

            requestValues[f] = values;
        }

        var batch = new InferenceBatch(rows, distinct, rowEntities, requestValues);
        return batch.FindDuplicateRow() is { } duplicate
            ? Fail(out error, "entities", $"row {duplicate.Row} repeats row {duplicate.First}: the same ids and request field values (duplicate rows)")
            : batch;
    }

    private static InferenceBatch? Fail(out RequestError? error, string field, string description)
    {
        error = RequestError.Invalid(field, description);
        return null;
    }

    private (int Row, int First)? FindDuplicateRow()
    {
        if (Rows < 2)
        {
            return null;
        }

        var seen = new Dictionary<int, int>(Rows, new RowComparer(this));
        for (var row = 0; row < Rows; row++)
        {
            if (!seen.TryAdd(row, row))
            {
                return (row, seen[row]);
            }
        }

        return null;
    }

    private static string Describe(IReadOnlyList<string> names) => names.Count == 0 ? "none" : string.Join(", ", names);

    /// <summary>Rows compared by their entities and request field values.</summary>
    private sealed class RowComparer(InferenceBatch batch) : IEqualityComparer<int>
    {
        public bool Equals(int a, int b)
        {
            foreach (var entities in batch.RowEntities)
            {
                if (entities.Length > 1 && entities[a] != entities[b])
                {
                    return false;
                }
            }

            foreach (var values in batch.RequestValues)
            {
                if (values.Length > 1 && !values[a].Equals(values[b]))
                {
                    return false;
                }
            }

            return true;
        }

        public int GetHashCode(int row)
        {
            var hash = default(HashCode);
            foreach (var entities in batch.RowEntities)
            {
                hash.Add(entities.Length > 1 ? entities[row] : 0);
            }

            foreach (var values in batch.RequestValues)
            {
                hash.Add(values.Length > 1 ? values[row] : default);
            }

            return hash.ToHashCode();
        }
    }
}

/// <summary>The ids of one entity type, one per row or a single id for every row.</summary>
public sealed record EntityKeyColumn(string EntityType, IReadOnlyList<string> Ids);

/// <summary>The values of one request field, one per row or a single value for every row; null for a missing value.</summary>
public sealed record RequestFieldColumn(string Name, IReadOnlyList<ScalarValue> Values);
