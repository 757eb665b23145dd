using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// Free loopback TCP ports for servers a test starts. Picked below the kernel's ephemeral range: a port the kernel
/// hands out (bind to 0) is also where it puts the local end of outgoing connections, so between picking it and the
/// server binding it a Kafka or HTTP client in the same run could take it (seen as "address already in use" when
/// the bench's gateway started next to its mock broker's clients). Test assemblies run in parallel processes, so a port
/// is also claimed across processes: a lock file per port in the temp directory, held open until this process exits
/// (two assemblies once picked the same port between checking and binding it).
/// </summary>
public static class FreePort
{
    private static readonly HashSet<int> HandedOut = [];
    private static readonly List<FileStream> Claims = [];
    private static readonly string ClaimDirectory = Path.Combine(Path.GetTempPath(), "orleansfeatures-ports");
    private static readonly Lock Gate = new();

    public static int Next()
    {
        var below = EphemeralRangeStart();
        lock (Gate)
        {
            for (var attempt = 0; attempt < 200; attempt++)
            {
                var port = Random.Shared.Next(Math.Max(1024, below - 12_000), below);
                if (!HandedOut.Contains(port) && Claim(port) && CanBind(port))
                {
                    HandedOut.Add(port);
                    return port;
                }
            }
        }

        // Nothing free below the range (unlikely): let the kernel pick.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Claims <paramref name="port"/> for this process, unless another process holds its claim.</summary>
    private static bool Claim(int port)
    {
        try
        {
            Directory.CreateDirectory(ClaimDirectory);
            var claim = new FileStream(Path.Combine(ClaimDirectory, port.ToString(CultureInfo.InvariantCulture)), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            Claims.Add(claim);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static bool CanBind(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    // Linux publishes the range; elsewhere assume the IANA one (49152-65535).
    private static int EphemeralRangeStart()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], CultureInfo.InvariantCulture);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 49_152;
        }
    }
}
