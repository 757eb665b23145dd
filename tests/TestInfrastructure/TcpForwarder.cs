using System.Globalization;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// Listens on a chosen loopback port and relays each connection to another address. librdkafka's mock cluster binds
/// ports of its own choosing; a forwarder on a port picked earlier lets a process be configured with a bootstrap
/// address before the cluster exists (the cluster's metadata then points clients at its real brokers).
/// </summary>
public sealed class TcpForwarder : IAsyncDisposable
{
    private readonly TcpRelay _relay;

    public TcpForwarder(int port, string target)
    {
        var separator = target.LastIndexOf(':');
        var host = target[..separator];
        var targetPort = int.Parse(target[(separator + 1)..], CultureInfo.InvariantCulture);
        _relay = new TcpRelay(port, () => (host, targetPort), noDelay: false);
    }

    public ValueTask DisposeAsync() => _relay.DisposeAsync();
}
