using System.Net;
using System.Net.Sockets;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// A layer-4 load balancer on a loopback port, as a Kubernetes ClusterIP Service is: each new TCP connection goes to
/// the next backend of <see cref="Backends"/> (round robin); a connection stays with its backend until either side
/// closes it. Removing a backend (its readiness failed) sends it no new connections and leaves its open ones alone;
/// a backend that dies drops its connections, and the client's next connection goes to a live one.
/// </summary>
public sealed class TcpLoadBalancer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private volatile int[] _backends;
    private int _next;

    public TcpLoadBalancer(params int[] backendPorts)
    {
        _backends = backendPorts;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    /// <summary>The ports new connections go to, as a Service's ready endpoints.</summary>
    public int[] Backends
    {
        get => _backends;
        set => _backends = value;
    }

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _next);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception exception) when (exception is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            var backends = _backends;
            var n = Interlocked.Increment(ref _next);
            _ = RelayAsync(client, backends.Length == 0 ? 0 : backends[n % backends.Length]);
        }
    }

    private async Task RelayAsync(TcpClient client, int port)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                client.NoDelay = true;
                server.NoDelay = true;
                await server.ConnectAsync(IPAddress.Loopback, port, _stop.Token);
                var up = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
                var down = server.GetStream().CopyToAsync(client.GetStream(), _stop.Token);
                await Task.WhenAny(up, down);
            }
            catch (Exception exception) when (exception is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // No backend, a side closed or the balancer stopped: drop the connection, as a network would.
            }
        }
    }
}
