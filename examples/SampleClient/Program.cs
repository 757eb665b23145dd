using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using OrleansFeatures.V1;

// Prints live features for a few demo entities, once a second, until Ctrl+C (or --once).
// Usage: dotnet run --project examples/SampleClient [-- --address http://127.0.0.1:5080] [--once]
var address = "http://127.0.0.1:5080";
var once = false;
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--address" && i + 1 < args.Length)
    {
        address = args[++i];
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

using var channel = GrpcChannel.ForAddress(address);
var serving = new FeatureServing.FeatureServingClient(channel);
var registry = new FeatureRegistry.FeatureRegistryClient(channel);

try
{
    var definitions = await registry.ListDefinitionsAsync(new ListDefinitionsRequest(), cancellationToken: cancel.Token);
    Console.WriteLine($"registry version {definitions.RegistryVersion}: {definitions.FeatureViews.Count} feature views, {definitions.FeatureServices.Count} feature services");
    while (!cancel.IsCancellationRequested)
    {
        await PrintAsync(serving, "user", ["u0", "u1", "u2"], "ranker_v3", cancel.Token);
        await PrintAsync(serving, "game", ["g0", "g1"], "live_win_probability_v1", cancel.Token);
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
    Console.Error.WriteLine($"gateway at {address} answered {error.StatusCode}: {error.Status.Detail}");
    return 1;
}

return 0;

static async Task PrintAsync(FeatureServing.FeatureServingClient serving, string entityType, string[] ids, string service, CancellationToken cancellationToken)
{
    var request = new GetOnlineFeaturesRequest { EntityType = entityType, FeatureService = service };
    request.EntityIds.Add(ids);
    var response = await serving.GetOnlineFeaturesAsync(request, cancellationToken: cancellationToken);
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

static string Format(Value value) => value.KindCase switch
{
    Value.KindOneofCase.Int64Value => value.Int64Value.ToString(CultureInfo.InvariantCulture),
    Value.KindOneofCase.DoubleValue => value.DoubleValue.ToString("0.###", CultureInfo.InvariantCulture),
    Value.KindOneofCase.StringValue => value.StringValue,
    Value.KindOneofCase.BoolValue => value.BoolValue ? "true" : "false",
    _ => "-",
};
