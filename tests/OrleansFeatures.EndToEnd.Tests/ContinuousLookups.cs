extern alias ShippedClient;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using FeatureStoreClient = ShippedClient::OrleansFeatures.Client.FeatureStoreClient;
using FeatureStoreClientOptions = ShippedClient::OrleansFeatures.Client.FeatureStoreClientOptions;
using ShippedRequest = ShippedClient::OrleansFeatures.V1.GetOnlineFeaturesRequest;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// Lookups in a loop, as a model server makes them: through the shipped client (OrleansFeatures.Client) with its
/// default policy (deadline, retries on UNAVAILABLE and, for reads, DEADLINE_EXCEEDED), one client per gateway, each
/// lookup sent once to the next gateway in <see cref="Gateways"/> (a load balancer's endpoint list). A lookup counts as
/// failed when the client gives up; no retry is added here. Records each lookup's latency, the client's retries included.
/// </summary>
internal sealed class ContinuousLookups : IAsyncDisposable
{
    private readonly Dictionary<int, FeatureStoreClient> _clients = [];
    private readonly Func<GetOnlineFeaturesRequest> _request;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<double> _latenciesMs = [];
    private readonly List<string> _failures = [];
    private readonly Task _loop;
    private volatile GatewayProcess[] _gateways;
    private int _next;

    public ContinuousLookups(GatewayProcess[] gateways, Func<GetOnlineFeaturesRequest> request)
    {
        _gateways = gateways;
        _request = request;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>The gateways lookups go to from now on, as a load balancer's endpoint list changes with readiness.</summary>
    public GatewayProcess[] Gateways
    {
        get => _gateways;
        set => _gateways = value;
    }

    public int Failed => _failures.Count;

    /// <summary>The status of each failed lookup, for the test output.</summary>
    public IReadOnlyList<string> Failures => _failures;

    public int Count => _latenciesMs.Count;

    /// <summary>Stops the loop and returns the p50 and p99 latencies in milliseconds.</summary>
    public async Task<(double P50, double P99)> StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }

        _clients.Clear();
        var sorted = _latenciesMs.Order().ToArray();
        return sorted.Length == 0 ? (0, 0) : (sorted[(int)(sorted.Length * 0.5)], sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * 0.99))]);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_loop.IsCompleted)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private FeatureStoreClient ClientOf(GatewayProcess gateway)
    {
        if (!_clients.TryGetValue(gateway.GrpcPort, out var client))
        {
            _clients[gateway.GrpcPort] = client = new FeatureStoreClient(new FeatureStoreClientOptions { Address = gateway.GrpcAddress });
        }

        return client;
    }

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var request = ShippedRequest.Parser.ParseFrom(_request().ToByteArray());
            var gateways = _gateways;
            var client = ClientOf(gateways[_next++ % gateways.Length]);
            var watch = Stopwatch.StartNew();
            try
            {
                await client.GetOnlineFeaturesAsync(request);
            }
            catch (RpcException failed)
            {
                _failures.Add($"{failed.StatusCode}: {failed.Status.Detail}");
            }

            _latenciesMs.Add(watch.Elapsed.TotalMilliseconds);
            await Task.Delay(5);
        }
    }
}
