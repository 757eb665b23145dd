using System.Net;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// A layer-4 load balancer on a loopback port, as a Kubernetes ClusterIP Service is: each new TCP connection goes to
/// the next backend of <see cref="Backends"/> (round robin); a connection stays with its backend until either side
/// closes it. Removing a backend (its readiness failed) sends it no new connections and leaves its open ones alone;
/// a backend that dies drops its connections, and the client's next connection goes to a live one.
/// </summary>
public sealed class TcpLoadBalancer : IAsyncDisposable
{
    private readonly TcpRelay _relay;
    private volatile int[] _backends;
    private int _next;

    public TcpLoadBalancer(params int[] backendPorts)
    {
        _backends = backendPorts;
        _relay = new TcpRelay(0, NextBackend, noDelay: true);
    }

    public int Port => _relay.Port;

    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <summary>The ports new connections go to, as a Service's ready endpoints.</summary>
    public int[] Backends
    {
        get => _backends;
        set => _backends = value;
    }

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _next);

    public ValueTask DisposeAsync() => _relay.DisposeAsync();

    // Round robin over the ready backends; with none, port 0, which refuses the connection.
    private (string Host, int Port) NextBackend()
    {
        var backends = _backends;
        var n = Interlocked.Increment(ref _next);
        return (IPAddress.Loopback.ToString(), backends.Length == 0 ? 0 : backends[n % backends.Length]);
    }
}
