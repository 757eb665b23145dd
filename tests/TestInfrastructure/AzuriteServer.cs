using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// Azurite's Table service (the Azure Storage emulator, npm package <c>azurite</c>), started on a free loopback port
/// with in-memory persistence and stopped on dispose; with <see cref="StartWithBlobAsync"/>, the Blob service too, its
/// data in a folder so <see cref="StopAsync"/> and <see cref="RestartAsync"/> model storage going away and coming back. Found through <c>AZURITE_TABLE</c> (the path of
/// <c>azurite-table</c>), the cache <c>.ci/run</c> installs into (<c>~/.cache/orleansfeatures/azurite</c>), or PATH;
/// without one it is installed into that cache with npm first (once per machine).
/// </summary>
public sealed class AzuriteServer : IAsyncDisposable
{
    public const string Version = "3.37.0";
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly SemaphoreSlim InstallGate = new(1, 1);
    private readonly string _executable;
    private readonly string? _location;
    private Process _process = null!;

    private AzuriteServer(string executable, int port, int blobPort, string? location)
    {
        _executable = executable;
        Port = port;
        BlobPort = blobPort;
        _location = location;
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
        var server = new AzuriteServer(await LocateOrInstallAsync(), FreePort.Next(), 0, null);
        await server.LaunchAsync();
        return server;
    }

    /// <summary>The Table and Blob services, persisting to <paramref name="location"/> so a restart keeps the data.</summary>
    public static async Task<AzuriteServer> StartWithBlobAsync(string location)
    {
        var table = await LocateOrInstallAsync();
        var server = new AzuriteServer(Path.Combine(Path.GetDirectoryName(table)!, "azurite"), FreePort.Next(), FreePort.Next(), location);
        await server.LaunchAsync();
        return server;
    }

    /// <summary>Stops the emulator gracefully (it saves its data), leaving its ports closed until <see cref="RestartAsync"/>.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await _process.WaitForExitAsync(timeout.Token);
        }

        _process.Dispose();
    }

    /// <summary>Starts the emulator again on the same ports and data.</summary>
    public Task RestartAsync() => LaunchAsync();

    private async Task LaunchAsync()
    {
        var executable = _executable;
        var port = Port;
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            // Azurite writes its debug log and extent files here; with in-memory persistence they stay empty.
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in new[] { "--tableHost", "127.0.0.1", "--tablePort", port.ToString(CultureInfo.InvariantCulture), "--skipApiVersionCheck", "--disableProductStyleUrl", "--silent" })
        {
            start.ArgumentList.Add(argument);
        }

        if (BlobPort > 0)
        {
            // The combined executable also starts the Queue service: give it a free port too.
            foreach (var argument in new[] { "--blobHost", "127.0.0.1", "--blobPort", BlobPort.ToString(CultureInfo.InvariantCulture), "--queueHost", "127.0.0.1", "--queuePort", FreePort.Next().ToString(CultureInfo.InvariantCulture) })
            {
                start.ArgumentList.Add(argument);
            }
        }

        if (_location is null)
        {
            start.ArgumentList.Add("--inMemoryPersistence");
        }
        else
        {
            start.ArgumentList.Add("--location");
            start.ArgumentList.Add(_location);
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
                if (BlobPort > 0)
                {
                    using var blob = new TcpClient();
                    await blob.ConnectAsync(System.Net.IPAddress.Loopback, BlobPort);
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
