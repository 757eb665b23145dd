using System.Diagnostics;
using Grpc.Core;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// Lookups in a loop over a set of gateways, as a model server would make them: each lookup tries the gateways in
/// turn (up to <see cref="Attempts"/> tries, 100 ms apart) and counts as failed only when every try failed. Records
/// the latency of each lookup including its retries.
/// </summary>
internal sealed class ContinuousLookups : IAsyncDisposable
{
    private const int Attempts = 5;
    private volatile GatewayClient[] _clients;
    private readonly Func<GetOnlineFeaturesRequest> _request;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<double> _latenciesMs = [];
    private readonly Task _loop;
    private int _next;

    public ContinuousLookups(GatewayClient[] clients, Func<GetOnlineFeaturesRequest> request)
    {
        _clients = clients;
        _request = request;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>The gateways lookups go to from now on, as a load balancer's endpoint list changes with readiness.</summary>
    public GatewayClient[] Clients
    {
        get => _clients;
        set => _clients = value;
    }

    public int Failed { get; private set; }

    public int Retried { get; private set; }

    public int Count => _latenciesMs.Count;

    /// <summary>Stops the loop and returns the p50 and p99 latencies in milliseconds.</summary>
    public async Task<(double P50, double P99)> StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
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

    private async Task RunAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var request = _request();
            var watch = Stopwatch.StartNew();
            var ok = false;
            for (var attempt = 0; attempt < Attempts && !ok; attempt++)
            {
                var clients = _clients;
                var client = clients[_next++ % clients.Length];
                try
                {
                    await client.Serving.GetOnlineFeaturesAsync(request, deadline: DateTime.UtcNow.AddSeconds(5));
                    ok = true;
                }
                catch (RpcException)
                {
                    Retried++;
                    await Task.Delay(100);
                }
            }

            _latenciesMs.Add(watch.Elapsed.TotalMilliseconds);
            if (!ok)
            {
                Failed++;
            }

            await Task.Delay(5);
        }
    }
}
