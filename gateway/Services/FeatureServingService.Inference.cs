using System.Runtime.CompilerServices;
using Google.Protobuf;
using Grpc.Core;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Serving;
using OrleansFeatures.Grains.Definitions;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Interfaces;
using OrleansFeatures.V1;
using ColumnEncoding = OrleansFeatures.Core.Serving.ColumnEncoding;
using InferenceColumn = OrleansFeatures.V1.InferenceColumn;

namespace OrleansFeatures.Gateway.Services;

/// <summary>GetInferenceInputs: a feature service's columns for a batch of rows, as a float32 matrix.</summary>
public sealed partial class FeatureServingService
{
    // What the gateway sends and answers for a plan (read lists, column metadata) is built once per plan, i.e. once
    // per service and registry version, like the plan itself.
    private static readonly ConditionalWeakTable<InferencePlan, ServicePlan> WirePlans = new();

    public override async Task<GetInferenceInputsResponse> GetInferenceInputs(GetInferenceInputsRequest request, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.FeatureService))
        {
            throw RpcErrors.InvalidArgument("feature_service", "is required");
        }

        if (request.Format is not (InferenceFormat.Unspecified or InferenceFormat.Matrix or InferenceFormat.Arrow))
        {
            throw RpcErrors.InvalidArgument("format", $"{(int)request.Format} is not an InferenceFormat (MATRIX = 1, ARROW = 2)");
        }

        if (request.FeatureService.Length > DefinitionLimits.MaxNameLength)
        {
            throw RpcErrors.InvalidArgument("feature_service", $"is {request.FeatureService.Length} characters; the limit is {DefinitionLimits.MaxNameLength}");
        }

        var definitions = catalog.Current;
        if (FindPlan(definitions, request.FeatureService) is not { } plan)
        {
            // The registry may have changed through another silo since the last refresh: look once more.
            definitions = await catalog.RefreshAsync(context.CancellationToken);
            plan = FindPlan(definitions, request.FeatureService)
                ?? throw RpcErrors.NotFound($"feature_service '{RpcErrors.Echo(request.FeatureService)}' is not defined");
        }

        if (plan.Plan.UnservableReason is { } reason)
        {
            throw RpcErrors.FailedPrecondition($"feature_service '{plan.Plan.Service.Name}' cannot be served as numbers: {reason}; add an encoding to the service (core/Definitions/README.md)");
        }

        var batch = InferenceBatch.Parse(plan.Plan, KeyColumns(request), FieldColumns(request), limits.Value.MaxEntitiesPerRequest, keyLimits.Value.MaxKeyLength, out var invalid)
            ?? throw RpcErrors.From(invalid!);
        var nowMs = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var slots = plan.Plan.Entities;
        var readings = new FeatureReading[slots.Count][];
        var reads = new ValueTask<bool[]?>[slots.Count];
        for (var s = 0; s < slots.Count; s++)
        {
            readings[s] = new FeatureReading[batch.DistinctIds[s].Count * slots[s].Features.Length];
            reads[s] = reader.ReadAsync(definitions.Version, slots[s].EntityType, batch.DistinctIds[s], plan.References[s], nowMs, readings[s]);
        }

        var stale = new bool[]?[slots.Count];
        var anyStale = false;
        for (var s = 0; s < reads.Length; s++)
        {
            stale[s] = await reads[s];
            anyStale |= stale[s] is not null;
        }

        var matrix = InferenceMatrix.Build(plan.Plan, batch.Rows, batch.RowEntities, readings, batch.RequestValues);
        var response = new GetInferenceInputsResponse
        {
            RowCount = matrix.Rows,
            ColumnCount = matrix.Columns,
            RegistryVersion = definitions.Version,
            EvaluatedAt = ValueMapping.ToTimestamp(nowMs),
        };
        if (anyStale)
        {
            AddStaleRows(response, batch, stale);
            FeatureStoreMetrics.StaleAnswers.Add(1, new KeyValuePair<string, object?>("rpc", "GetInferenceInputs"));
        }

        for (var c = 0; c < plan.Columns.Length; c++)
        {
            var column = plan.Columns[c].Clone();
            column.DefaultedRows = matrix.DefaultedRows[c];
            response.Columns.Add(column);
        }

        if (request.Format == InferenceFormat.Arrow)
        {
            response.ArrowIpc = UnsafeByteOperations.UnsafeWrap(
                InferenceArrowWriter.Write(matrix, response.Columns, plan.Plan.Service.Name, definitions.Version, nowMs));
        }
        else
        {
            response.Values = UnsafeByteOperations.UnsafeWrap(matrix.Values);
            response.Mask = UnsafeByteOperations.UnsafeWrap(matrix.Mask);
        }

        FeatureStoreMetrics.FeatureReads.Add((long)matrix.Rows * matrix.Columns);
        return response;
    }

    /// <summary>Rows that hold a value of an entity answered from its durable state (<c>stale_rows</c>), ascending.</summary>
    private static void AddStaleRows(GetInferenceInputsResponse response, InferenceBatch batch, bool[]?[] stale)
    {
        for (var row = 0; row < batch.Rows; row++)
        {
            for (var s = 0; s < stale.Length; s++)
            {
                var entityOfRow = batch.RowEntities[s];
                if (stale[s] is { } flags && flags[entityOfRow.Length == 1 ? entityOfRow[0] : entityOfRow[row]])
                {
                    response.StaleRows.Add(row);
                    break;
                }
            }
        }
    }

    private static Core.Serving.EntityKeyColumn[] KeyColumns(GetInferenceInputsRequest request)
    {
        var columns = new Core.Serving.EntityKeyColumn[request.Entities.Count];
        for (var i = 0; i < columns.Length; i++)
        {
            columns[i] = new Core.Serving.EntityKeyColumn(request.Entities[i].EntityType, request.Entities[i].Ids);
        }

        return columns;
    }

    private static Core.Serving.RequestFieldColumn[] FieldColumns(GetInferenceInputsRequest request)
    {
        var columns = new Core.Serving.RequestFieldColumn[request.RequestFields.Count];
        for (var i = 0; i < columns.Length; i++)
        {
            var proto = request.RequestFields[i];
            var values = new ScalarValue[proto.Values.Count];
            for (var r = 0; r < values.Length; r++)
            {
                values[r] = ValueMapping.FromProto(proto.Values[r]);
            }

            columns[i] = new Core.Serving.RequestFieldColumn(proto.Name, values);
        }

        return columns;
    }

    private static ServicePlan? FindPlan(ActiveDefinitions definitions, string name) =>
        definitions.Lookups.FindInferencePlan(name) is { } plan ? WirePlans.GetValue(plan, ServicePlan.Compile) : null;

    /// <summary>An inference plan with what the gateway sends and answers for it: read lists per entity type, column metadata.</summary>
    private sealed record ServicePlan(InferencePlan Plan, FeatureRefList[] References, InferenceColumn[] Columns)
    {
        public static ServicePlan Compile(InferencePlan plan)
        {
            var references = new FeatureRefList[plan.Entities.Count];
            for (var s = 0; s < references.Length; s++)
            {
                var features = plan.Entities[s].Features;
                references[s] = new FeatureRefList(Array.ConvertAll(features, f => f.View), Array.ConvertAll(features, f => f.Feature));
            }

            var columns = new InferenceColumn[plan.Columns.Count];
            for (var c = 0; c < columns.Length; c++)
            {
                var column = plan.Columns[c];
                columns[c] = new InferenceColumn
                {
                    Name = column.Name,
                    Dtype = ValueMapping.ToProto(column.Definition.Type, column.Definition.ElementType),
                    Encoding = column.Encoding switch
                    {
                        ColumnEncoding.Number => V1.ColumnEncoding.Number,
                        ColumnEncoding.Bool => V1.ColumnEncoding.Bool,
                        ColumnEncoding.Categorical => V1.ColumnEncoding.Categorical,
                        ColumnEncoding.Length => V1.ColumnEncoding.Length,
                        _ => V1.ColumnEncoding.Unspecified,
                    },
                    EntityType = column.Definition.EntityType ?? "",
                    DefaultValue = column.Definition.Default is { } value ? ValueMapping.ToProto(value) : null,
                    EncodedDefault = column.DefaultValue,
                };
                if (column.Definition.Encoding is { } encoding)
                {
                    columns[c].Categories.Add(encoding.Categories);
                }
            }

            return new ServicePlan(plan, references, columns);
        }
    }
}
