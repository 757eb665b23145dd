using System.Buffers.Binary;
using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OrleansFeatures.V1;
using StackExchange.Redis;

/// <summary>
/// The common alternative, as its own process: a gRPC service with the same API that reads precomputed feature values
/// from Redis hashes, one HGETALL per entity, all of a request's commands pipelined on one multiplexed connection.
/// </summary>
internal static class RedisBaselineServer
{
    public static string HashKey(string entityType, string id) => $"{entityType}:{id}";

    /// <summary>Runs until killed: <c>redis-baseline-server --port P --redis HOST:PORT</c>.</summary>
    public static async Task RunAsync(string[] args)
    {
        var port = int.Parse(args[Array.IndexOf(args, "--port") + 1], CultureInfo.InvariantCulture);
        var redis = await ConnectionMultiplexer.ConnectAsync(args[Array.IndexOf(args, "--redis") + 1]);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.ListenLocalhost(port, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton<IConnectionMultiplexer>(redis);
        var app = builder.Build();
        app.MapGrpcService<RedisFeatureServing>();
        await app.RunAsync();
    }
}

/// <summary>Lookups and inference inputs of the benchmark's two services, from Redis.</summary>
internal sealed class RedisFeatureServing(IConnectionMultiplexer redis) : FeatureServing.FeatureServingBase
{
    private static readonly string[] ItemColumns = ServingDefinitions.ItemColumns;
    private static readonly string[] RankerColumns = ServingDefinitions.RankerColumns;

    public override async Task<GetOnlineFeaturesResponse> GetOnlineFeatures(GetOnlineFeaturesRequest request, ServerCallContext context)
    {
        if (request.FeatureService != ServingDefinitions.ItemService || request.EntityIds.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the baseline serves bench_item20 only"));
        }

        var db = redis.GetDatabase();
        var reads = new Task<HashEntry[]>[request.EntityIds.Count];
        for (var i = 0; i < reads.Length; i++)
        {
            reads[i] = db.HashGetAllAsync(RedisBaselineServer.HashKey("item", request.EntityIds[i]));
        }

        await Task.WhenAll(reads);
        var response = new GetOnlineFeaturesResponse();
        response.FeatureNames.Add(ItemColumns);
        for (var i = 0; i < reads.Length; i++)
        {
            var hash = ToDictionary(reads[i].Result);
            var entity = new EntityFeatures { EntityId = request.EntityIds[i] };
            foreach (var column in ItemColumns)
            {
                entity.Values.Add(hash.TryGetValue(column, out var text)
                    ? new FeatureValue { Value = new Value { DoubleValue = double.Parse(text, CultureInfo.InvariantCulture) }, Status = FeatureStatus.Present }
                    : new FeatureValue { Value = new Value(), Status = FeatureStatus.NotFound });
            }

            response.Entities.Add(entity);
        }

        return response;
    }

    public override async Task<GetInferenceInputsResponse> GetInferenceInputs(GetInferenceInputsRequest request, ServerCallContext context)
    {
        if (request.FeatureService != ServingDefinitions.RankerService || request.Entities.Count != 2)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "the baseline serves bench_ranker20 with user and item columns only"));
        }

        var user = request.Entities[0].EntityType == "user" ? request.Entities[0] : request.Entities[1];
        var items = request.Entities[0].EntityType == "item" ? request.Entities[0] : request.Entities[1];
        var db = redis.GetDatabase();
        var userRead = db.HashGetAllAsync(RedisBaselineServer.HashKey("user", user.Ids[0]));
        var itemReads = new Task<HashEntry[]>[items.Ids.Count];
        for (var i = 0; i < itemReads.Length; i++)
        {
            itemReads[i] = db.HashGetAllAsync(RedisBaselineServer.HashKey("item", items.Ids[i]));
        }

        await Task.WhenAll(itemReads);
        var userHash = ToDictionary(await userRead);
        var rows = itemReads.Length;
        var columns = RankerColumns.Length;
        var values = new byte[rows * columns * sizeof(float)];
        var mask = new byte[rows * columns];
        for (var row = 0; row < rows; row++)
        {
            var itemHash = ToDictionary(itemReads[row].Result);
            for (var c = 0; c < columns; c++)
            {
                var hash = c < ServingDefinitions.UserFeatures.Length ? userHash : itemHash;
                var cell = (row * columns) + c;
                var present = hash.TryGetValue(RankerColumns[c], out var text);
                BinaryPrimitives.WriteSingleLittleEndian(values.AsSpan(cell * sizeof(float)), present ? float.Parse(text!, CultureInfo.InvariantCulture) : float.NaN);
                mask[cell] = present ? (byte)1 : (byte)0;
            }
        }

        var response = new GetInferenceInputsResponse
        {
            RowCount = rows,
            ColumnCount = columns,
            Values = UnsafeByteOperations.UnsafeWrap(values),
            Mask = UnsafeByteOperations.UnsafeWrap(mask),
        };
        foreach (var column in RankerColumns)
        {
            response.Columns.Add(new InferenceColumn { Name = column, Dtype = OrleansFeatures.V1.ValueType.Double, Encoding = ColumnEncoding.Number });
        }

        return response;
    }

    private static Dictionary<string, string> ToDictionary(HashEntry[] entries)
    {
        var map = new Dictionary<string, string>(entries.Length, StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            map[entry.Name!] = entry.Value!;
        }

        return map;
    }
}
