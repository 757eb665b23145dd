using System.Net;
using System.Net.Sockets;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// Listens on a chosen loopback port and relays each connection to another address. librdkafka's mock cluster binds
/// ports of its own choosing; a forwarder on a port picked earlier lets a process be configured with a bootstrap
/// address before the cluster exists (the cluster's metadata then points clients at its real brokers).
/// </summary>
public sealed class TcpForwarder : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public TcpForwarder(int port, string target)
    {
        var separator = target.LastIndexOf(':');
        _targetHost = target[..separator];
        _targetPort = int.Parse(target[(separator + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        _accepting = AcceptAsync();
    }

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
            _ = RelayAsync(client);
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
                var up = client.GetStream().CopyToAsync(server.GetStream(), _stop.Token);
                var down = server.GetStream().CopyToAsync(client.GetStream(), _stop.Token);
                await Task.WhenAny(up, down);
            }
            catch (Exception exception) when (exception is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A side closed or the forwarder stopped: drop the connection, as a network would.
            }
        }
    }
}
