using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Serving;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// A validated GetInferenceInputs request, shaped for <see cref="InferenceMatrix.Build"/>: per entity type the
/// distinct ids (each read once) and each row's index among them; per request field its values.
/// </summary>
internal sealed class InferenceBatch
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

    /// <summary>Validates <paramref name="request"/> against <paramref name="plan"/>; throws INVALID_ARGUMENT naming the field.</summary>
    public static InferenceBatch Parse(InferencePlan plan, GetInferenceInputsRequest request, int maxRows, int maxKeyLength)
    {
        var slots = plan.Entities;
        var columns = new EntityKeyColumn?[slots.Count];
        var columnIndex = new int[slots.Count];
        var rows = 0;
        for (var i = 0; i < request.Entities.Count; i++)
        {
            var column = request.Entities[i];
            var slot = plan.SlotOf(column.EntityType);
            if (slot < 0)
            {
                throw RpcErrors.InvalidArgument(
                    $"entities[{i}].entity_type", $"'{RpcErrors.Echo(column.EntityType)}' is not read by feature_service '{plan.Service.Name}' (it reads {Describe(plan.Service.EntityTypes)})");
            }

            if (columns[slot] is not null)
            {
                throw RpcErrors.InvalidArgument($"entities[{i}].entity_type", $"entity type '{column.EntityType}' is given twice (also entities[{columnIndex[slot]}])");
            }

            columns[slot] = column;
            columnIndex[slot] = i;
            rows = Math.Max(rows, column.Ids.Count);
        }

        for (var s = 0; s < slots.Count; s++)
        {
            if (columns[s] is null)
            {
                throw RpcErrors.InvalidArgument("entities", $"feature_service '{plan.Service.Name}' reads entity type '{slots[s].EntityType}', and no column gives its ids");
            }
        }

        var fields = new RequestFieldColumn?[plan.RequestFields.Count];
        var fieldIndex = new int[fields.Length];
        for (var i = 0; i < request.RequestFields.Count; i++)
        {
            var column = request.RequestFields[i];
            var field = plan.RequestFieldIndex(column.Name);
            if (field < 0)
            {
                throw RpcErrors.InvalidArgument(
                    $"request_fields[{i}].name", $"'{RpcErrors.Echo(column.Name)}' is not a request field of feature_service '{plan.Service.Name}' (it declares {Describe(plan.RequestFields.Select(f => f.Name).ToList())})");
            }

            if (fields[field] is not null)
            {
                throw RpcErrors.InvalidArgument($"request_fields[{i}].name", $"'{column.Name}' is given twice (also request_fields[{fieldIndex[field]}])");
            }

            fields[field] = column;
            fieldIndex[field] = i;
            rows = Math.Max(rows, column.Values.Count);
        }

        if (rows == 0)
        {
            throw RpcErrors.InvalidArgument("entities", "must give at least one row of ids");
        }

        if (rows > maxRows)
        {
            throw RpcErrors.InvalidArgument("entities", $"the request has {rows} rows; the limit is {maxRows} (FeatureStore:Limits:MaxEntitiesPerRequest)");
        }

        var distinct = new List<string>[slots.Count];
        var rowEntities = new int[slots.Count][];
        for (var s = 0; s < slots.Count; s++)
        {
            var ids = columns[s]!.Ids;
            var at = $"entities[{columnIndex[s]}]";
            if (ids.Count != 1 && ids.Count != rows)
            {
                throw RpcErrors.InvalidArgument($"{at}.ids", $"has {ids.Count} ids; it needs one per row ({rows}) or a single id for every row");
            }

            distinct[s] = new List<string>(ids.Count);
            rowEntities[s] = new int[ids.Count];
            var seen = ids.Count > 1 ? new Dictionary<string, int>(ids.Count, StringComparer.Ordinal) : null;
            for (var r = 0; r < ids.Count; r++)
            {
                var id = ids[r];
                if (string.IsNullOrWhiteSpace(id))
                {
                    throw RpcErrors.InvalidArgument($"{at}.ids[{r}]", "is empty");
                }

                if (id.Length > maxKeyLength)
                {
                    throw RpcErrors.InvalidArgument($"{at}.ids[{r}]", $"is {id.Length} characters; the limit is {maxKeyLength} (FeatureStore:Limits:MaxKeyLength)");
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
                throw RpcErrors.InvalidArgument($"{at}.values", $"has {column.Values.Count} values; it needs one per row ({rows}) or a single value for every row");
            }

            var values = new ScalarValue[column.Values.Count];
            for (var r = 0; r < values.Length; r++)
            {
                var value = ValueMapping.FromProto(column.Values[r]);
                if (!value.IsNull && value.Kind != field.Type && !(field.Type == ScalarKind.Double && value.Kind == ScalarKind.Int64))
                {
                    throw RpcErrors.InvalidArgument(
                        $"{at}.values[{r}]", $"is {EventSchema.KindName(value.Kind)}; request field '{field.Name}' is {EventSchema.KindName(field.Type)}");
                }

                values[r] = value;
            }

            requestValues[f] = values;
        }

        var batch = new InferenceBatch(rows, distinct, rowEntities, requestValues);
        batch.RejectDuplicateRows();
        return batch;
    }

    private void RejectDuplicateRows()
    {
        if (Rows < 2)
        {
            return;
        }

        var seen = new Dictionary<int, int>(Rows, new RowComparer(this));
        for (var row = 0; row < Rows; row++)
        {
            if (!seen.TryAdd(row, row))
            {
                throw RpcErrors.InvalidArgument("entities", $"row {row} repeats row {seen[row]}: the same ids and request field values (duplicate rows)");
            }
        }
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
