using System.Net;
using System.Net.Sockets;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// Accepts TCP connections on a loopback port and relays each one, both ways, to the address
/// <c>pickTarget</c> names when it arrives; a connection ends when either side closes it, and a target that cannot be
/// reached drops it, as a network would. What <see cref="TcpForwarder"/> and <see cref="TcpLoadBalancer"/> share.
/// </summary>
internal sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<(string Host, int Port)> _pickTarget;
    private readonly bool _noDelay;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    /// <param name="port">The loopback port to listen on; 0 picks a free one (<see cref="Port"/>).</param>
    /// <param name="noDelay">Sends small writes at once on both sides (Nagle off), as a load balancer does.</param>
    public TcpRelay(int port, Func<(string Host, int Port)> pickTarget, bool noDelay)
    {
        _pickTarget = pickTarget;
        _noDelay = noDelay;
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

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
            var (host, port) = _pickTarget();
            _ = RelayAsync(client, host, port);
        }
    }

    private async Task RelayAsync(TcpClient client, string host, int port)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                if (_noDelay)
                {
                    client.NoDelay = true;
                    server.NoDelay = true;
                }

                await server.ConnectAsync(host, port, _stop.Token);
                var up = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
                var down = server.GetStream().CopyToAsync(client.GetStream(), _stop.Token);
                await Task.WhenAny(up, down);
            }
            catch (Exception exception) when (exception is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // No target, a side closed or the relay stopped: drop the connection, as a network would.
            }
        }
    }
}
