extern alias ShippedClient;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using FeatureStoreClient = ShippedClient::OrleansFeatures.Client.FeatureStoreClient;
using FeatureStoreClientOptions = ShippedClient::OrleansFeatures.Client.FeatureStoreClientOptions;
using ShippedRequest = ShippedClient::OrleansFeatures.V1.GetOnlineFeaturesRequest;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// Lookups in a loop, as model servers make them: through the shipped client (OrleansFeatures.Client) with its
/// default policy (deadline, retries on UNAVAILABLE and, for reads, DEADLINE_EXCEEDED), two clients (two model servers,
/// used in turn) connected to the gateways through a <see cref="TcpLoadBalancer"/>, as through a Kubernetes Service:
/// each client's connection goes to one gateway, and a new connection (after the gateway closed it or died) to the
/// next ready one in <see cref="Gateways"/>. A lookup counts as failed when the client gives up; no retry is added
/// here. Records each lookup's latency, the client's retries included, when it started on the clock passed in and how
/// many times the client retried it, so a slow lookup can be placed against the test's steps.
/// </summary>
internal sealed class ContinuousLookups : IAsyncDisposable
{
    private readonly FeatureStoreClient[] _clients;
    private readonly TcpLoadBalancer _balancer;
    private readonly Func<GetOnlineFeaturesRequest> _request;
    private readonly Stopwatch _clock;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Lookup> _lookups = [];
    private readonly List<string> _failures = [];
    private readonly RetryCounter _retries = new();
    private readonly Task _loop;
    private GatewayProcess[] _gateways;
    private int _next;
    private int _stale;

    public ContinuousLookups(GatewayProcess[] gateways, Func<GetOnlineFeaturesRequest> request, Stopwatch? clock = null)
    {
        _gateways = gateways;
        _balancer = new TcpLoadBalancer([.. gateways.Select(g => g.GrpcPort)]);
        _clients = [.. Enumerable.Range(0, 2).Select(_ => new FeatureStoreClient(new FeatureStoreClientOptions { Address = _balancer.Address }, _retries))];
        _request = request;
        _clock = clock ?? Stopwatch.StartNew();
        _loop = Task.Run(RunAsync);
    }

    /// <summary>One lookup: when it started (seconds on the clock), how long it took with the client's retries, which client made it.</summary>
    public readonly record struct Lookup(double AtSeconds, double Milliseconds, int Client, int ClientRetries, bool Failed);

    /// <summary>
    /// The gateways new connections go to from now on, as a Service's endpoints change with readiness: open
    /// connections stay where they are until the gateway closes them or dies.
    /// </summary>
    public GatewayProcess[] Gateways
    {
        get => _gateways;
        set
        {
            _gateways = value;
            _balancer.Backends = [.. value.Select(g => g.GrpcPort)];
        }
    }

    public int Failed => _failures.Count;

    /// <summary>Lookups answered with at least one entity from its durable state (EntityFeatures.stale).</summary>
    public int Stale => _stale;

    /// <summary>The status of each failed lookup, for the test output.</summary>
    public IReadOnlyList<string> Failures => _failures;

    public int Count => _lookups.Count;

    /// <summary>Every lookup made, in order (read after <see cref="StopAsync"/>).</summary>
    public IReadOnlyList<Lookup> Lookups => _lookups;

    /// <summary>Stops the loop and returns the p50 and p99 latencies in milliseconds.</summary>
    public async Task<(double P50, double P99)> StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        await _balancer.DisposeAsync();
        var sorted = _lookups.Select(l => l.Milliseconds).Order().ToArray();
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
            var request = ShippedRequest.Parser.ParseFrom(_request().ToByteArray());
            var index = _next++ % _clients.Length;
            var client = _clients[index];
            var at = _clock.Elapsed.TotalSeconds;
            var retriesBefore = _retries.Count;
            var watch = Stopwatch.StartNew();
            var failed = false;
            try
            {
                var response = await client.GetOnlineFeaturesAsync(request);
                if (response.Entities.Any(e => e.Stale))
                {
                    _stale++;
                }
            }
            catch (RpcException failure)
            {
                failed = true;
                _failures.Add($"{failure.StatusCode}: {failure.Status.Detail}");
            }

            _lookups.Add(new Lookup(at, watch.Elapsed.TotalMilliseconds, index, _retries.Count - retriesBefore, failed));
            await Task.Delay(5);
        }
    }

    /// <summary>Counts the shipped client's retries: it logs each one at Debug (one lookup is in flight at a time).</summary>
    private sealed class RetryCounter : ILogger<FeatureStoreClient>
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (formatter(state, exception).Contains("retrying", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _count);
            }
        }
    }
}
