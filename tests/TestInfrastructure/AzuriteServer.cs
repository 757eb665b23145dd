using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// Azurite's Table service (the Azure Storage emulator, npm package <c>azurite</c>), started on a free loopback port
/// with in-memory persistence and stopped on dispose; with <see cref="StartWithBlobAsync"/>, the Blob service too, both
/// behind loopback forwarders so <see cref="TakeOfflineAsync"/> and <see cref="BringOnlineAsync"/> model the storage
/// service going away and coming back with its data (a stopped emulator does not exit while clients hold connections,
/// and killed it loses its last seconds of writes). Found through <c>AZURITE_TABLE</c> (the path of
/// <c>azurite-table</c>), the cache <c>.ci/run</c> installs into (<c>~/.cache/orleansfeatures/azurite</c>), or PATH;
/// without one it is installed into that cache with npm first (once per machine).
/// </summary>
public sealed class AzuriteServer : IAsyncDisposable
{
    public const string Version = "3.37.0";
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly SemaphoreSlim InstallGate = new(1, 1);
    private readonly string _executable;
    private readonly int _tablePort;
    private readonly int _blobPort;
    private readonly bool _forwarded;
    private Process _process = null!;
    private TcpForwarder[] _forwarders = [];

    private AzuriteServer(string executable, bool blob)
    {
        _executable = executable;
        _tablePort = FreePort.Next();
        _blobPort = blob ? FreePort.Next() : 0;
        _forwarded = blob;
        Port = blob ? FreePort.Next() : _tablePort;
        BlobPort = blob ? FreePort.Next() : 0;
    }

    public int Port { get; }

    /// <summary>The Blob service's port, or 0 when only the Table service runs.</summary>
    public int BlobPort { get; }

    /// <summary>A storage connection string for the emulator's well-known development account.</summary>
    public string ConnectionString =>
        string.Create(CultureInfo.InvariantCulture, $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};TableEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;")
        + (BlobPort > 0 ? string.Create(CultureInfo.InvariantCulture, $"BlobEndpoint=http://127.0.0.1:{BlobPort}/devstoreaccount1;") : "");

    public static async Task<AzuriteServer> StartAsync()
    {
        var server = new AzuriteServer(await LocateOrInstallAsync(), blob: false);
        await server.LaunchAsync();
        return server;
    }

    /// <summary>The Table and Blob services (the combined <c>azurite</c> executable), reached through forwarders on <see cref="Port"/> and <see cref="BlobPort"/>.</summary>
    public static async Task<AzuriteServer> StartWithBlobAsync()
    {
        var table = await LocateOrInstallAsync();
        var server = new AzuriteServer(Path.Combine(Path.GetDirectoryName(table)!, "azurite"), blob: true);
        await server.LaunchAsync();
        server.BringOnline();
        return server;
    }

    /// <summary>Storage goes away: both ports refuse connections and open ones are dropped, until <see cref="BringOnlineAsync"/>.</summary>
    public async Task TakeOfflineAsync()
    {
        foreach (var forwarder in _forwarders)
        {
            await forwarder.DisposeAsync();
        }

        _forwarders = [];
    }

    /// <summary>Storage comes back on the same ports, with the data it had.</summary>
    public Task BringOnlineAsync()
    {
        BringOnline();
        return Task.CompletedTask;
    }

    private void BringOnline()
    {
        if (_forwarded && _forwarders.Length == 0)
        {
            _forwarders = [new TcpForwarder(Port, $"127.0.0.1:{_tablePort}"), new TcpForwarder(BlobPort, $"127.0.0.1:{_blobPort}")];
        }
    }

    private async Task LaunchAsync()
    {
        var executable = _executable;
        var port = _tablePort;
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            // Azurite writes its debug log and extent files here; with in-memory persistence they stay empty.
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in new[] { "--tableHost", "127.0.0.1", "--tablePort", port.ToString(CultureInfo.InvariantCulture), "--inMemoryPersistence", "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent" })
        {
            start.ArgumentList.Add(argument);
        }

        if (_blobPort > 0)
        {
            // The combined executable also starts the Queue service: give it a free port too.
            foreach (var argument in new[] { "--blobHost", "127.0.0.1", "--blobPort", _blobPort.ToString(CultureInfo.InvariantCulture), "--queueHost", "127.0.0.1", "--queuePort", FreePort.Next().ToString(CultureInfo.InvariantCulture) })
            {
                start.ArgumentList.Add(argument);
            }
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"azurite-table exited with {process.ExitCode} before listening on {port}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
                if (_blobPort > 0)
                {
                    using var blob = new TcpClient();
                    await blob.ConnectAsync(System.Net.IPAddress.Loopback, _blobPort);
                }

                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        await DisposeAsync();
        throw new TimeoutException($"azurite-table did not listen on {port} within 30 s");
    }

    public async ValueTask DisposeAsync()
    {
        await TakeOfflineAsync();
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Stopped and disposed already.
        }

        _process.Dispose();
    }

    /// <summary>Where .ci/run installs Azurite, and where a test installs it when nothing else is found.</summary>
    public static string CacheDirectory =>
        Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } cache ? cache : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "orleansfeatures", "azurite");

    private static async Task<string> LocateOrInstallAsync()
    {
        if (Environment.GetEnvironmentVariable("AZURITE_TABLE") is { Length: > 0 } configured && File.Exists(configured))
        {
            return configured;
        }

        var cached = Path.Combine(CacheDirectory, "node_modules", ".bin", "azurite-table");
        if (File.Exists(cached))
        {
            return cached;
        }

        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, "azurite-table");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        await InstallGate.WaitAsync();
        try
        {
            if (!File.Exists(cached))
            {
                Directory.CreateDirectory(CacheDirectory);
                var install = new ProcessStartInfo("npm") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = CacheDirectory };
                foreach (var argument in new[] { "install", "--no-audit", "--no-fund", "--loglevel=error", $"azurite@{Version}" })
                {
                    install.ArgumentList.Add(argument);
                }

                using var npm = Process.Start(install) ?? throw new InvalidOperationException("npm is needed to install Azurite (apt-get install -y npm)");
                var errors = npm.StandardError.ReadToEndAsync();
                await npm.StandardOutput.ReadToEndAsync();
                await npm.WaitForExitAsync();
                if (npm.ExitCode != 0 || !File.Exists(cached))
                {
                    throw new InvalidOperationException($"npm install azurite@{Version} into {CacheDirectory} failed ({npm.ExitCode}): {await errors}");
                }
            }
        }
        finally
        {
            InstallGate.Release();
        }

        return cached;
    }
}
