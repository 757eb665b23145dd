using System.Globalization;
using Grpc.Core;
using OrleansFeatures.Client;
using OrleansFeatures.V1;

// Prints live features for a few demo entities, and one inference matrix, once a second, until Ctrl+C (or --once).
// Usage: dotnet run --project examples/SampleClient [-- --address http://127.0.0.1:5080] [--api-key KEY] [--once]
var options = new FeatureStoreClientOptions { Address = new Uri("http://127.0.0.1:5080"), ApiKey = Environment.GetEnvironmentVariable("ORLEANSFEATURES_API_KEY") };
var once = false;
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--address" && i + 1 < args.Length)
    {
        options.Address = new Uri(args[++i]);
    }
    else if (args[i] == "--api-key" && i + 1 < args.Length)
    {
        options.ApiKey = args[++i];
    }
    else if (args[i] == "--once")
    {
        once = true;
    }
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

using var client = new FeatureStoreClient(options);
var registry = new FeatureRegistry.FeatureRegistryClient(client.CallInvoker);

try
{
    var definitions = await registry.ListDefinitionsAsync(new ListDefinitionsRequest(), cancellationToken: cancel.Token);
    Console.WriteLine($"registry version {definitions.RegistryVersion}: {definitions.FeatureViews.Count} feature views, {definitions.FeatureServices.Count} feature services");
    while (!cancel.IsCancellationRequested)
    {
        await PrintAsync(client, "user", ["u0", "u1", "u2"], "ranker_v3", cancel.Token);
        await PrintAsync(client, "game", ["g0", "g1"], "live_win_probability_v1", cancel.Token);
        await PrintMatrixAsync(client, cancel.Token);
        if (once)
        {
            break;
        }

        await Task.Delay(TimeSpan.FromSeconds(1), cancel.Token);
    }
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
}
catch (RpcException error)
{
    Console.Error.WriteLine($"gateway at {options.Address} answered {error.StatusCode}: {error.Status.Detail}");
    return 1;
}

return 0;

static async Task PrintAsync(FeatureStoreClient client, string entityType, string[] ids, string service, CancellationToken cancellationToken)
{
    var response = await client.LookupAsync(entityType, ids, service, cancellationToken: cancellationToken);
    Console.WriteLine($"-- {entityType} via {service} (registry v{response.RegistryVersion})");
    foreach (var entity in response.Entities)
    {
        Console.WriteLine($"  {entity.EntityId}");
        for (var f = 0; f < response.FeatureNames.Count; f++)
        {
            var value = entity.Values[f];
            var age = value.EventTime is null ? "" : $" ({(DateTime.UtcNow - value.EventTime.ToDateTime()).TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)}s old)";
            Console.WriteLine($"    {response.FeatureNames[f],-45} {Format(value.Value),-14} {value.Status}{age}");
        }
    }
}

// A feed ranker's input: one user, three candidate items, request context; '*' marks a defaulted (or NaN) cell.
static async Task PrintMatrixAsync(FeatureStoreClient client, CancellationToken cancellationToken)
{
    var request = new GetInferenceInputsRequest
    {
        FeatureService = "feed_ranker_v1",
        Entities =
        {
            new EntityKeyColumn { EntityType = "user", Ids = { "u1" } },
            new EntityKeyColumn { EntityType = "content", Ids = { "c1", "c2", "c3" } },
        },
        RequestFields =
        {
            new RequestFieldColumn { Name = "hour_of_day", Values = { new Value { Int64Value = DateTime.UtcNow.Hour } } },
            new RequestFieldColumn { Name = "device", Values = { new Value { StringValue = "android" } } },
        },
    };
    var inputs = await client.GetInferenceInputsAsync(request, cancellationToken: cancellationToken);
    Console.WriteLine($"-- feed_ranker_v1: {inputs.RowCount} x {inputs.ColumnCount} (registry v{inputs.RegistryVersion}): {string.Join(", ", inputs.Columns.Select(c => c.Name))}");
    for (var row = 0; row < inputs.RowCount; row++)
    {
        var cells = new string[inputs.ColumnCount];
        for (var column = 0; column < inputs.ColumnCount; column++)
        {
            cells[column] = inputs[row, column].ToString("0.###", CultureInfo.InvariantCulture) + (inputs.IsPresent(row, column) ? "" : "*");
        }

        Console.WriteLine($"  {string.Join(' ', cells)}");
    }
}

static string Format(Value value) => value.KindCase switch
{
    Value.KindOneofCase.Int64Value => value.Int64Value.ToString(CultureInfo.InvariantCulture),
    Value.KindOneofCase.DoubleValue => value.DoubleValue.ToString("0.###", CultureInfo.InvariantCulture),
    Value.KindOneofCase.StringValue => value.StringValue,
    Value.KindOneofCase.BoolValue => value.BoolValue ? "true" : "false",
    _ => "-",
};
