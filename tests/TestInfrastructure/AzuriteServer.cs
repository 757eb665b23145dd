using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// Azurite's Table service (the Azure Storage emulator, npm package <c>azurite</c>), started on a free loopback port
/// with in-memory persistence and stopped on dispose. Found through <c>AZURITE_TABLE</c> (the path of
/// <c>azurite-table</c>), the cache <c>.ci/run</c> installs into (<c>~/.cache/orleansfeatures/azurite</c>), or PATH;
/// without one it is installed into that cache with npm first (once per machine).
/// </summary>
public sealed class AzuriteServer : IAsyncDisposable
{
    public const string Version = "3.37.0";
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    private static readonly SemaphoreSlim InstallGate = new(1, 1);
    private readonly Process _process;

    private AzuriteServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>A storage connection string for the emulator's well-known development account.</summary>
    public string ConnectionString =>
        string.Create(CultureInfo.InvariantCulture, $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AccountKey};TableEndpoint=http://127.0.0.1:{Port}/devstoreaccount1;");

    public static async Task<AzuriteServer> StartAsync()
    {
        var executable = await LocateOrInstallAsync();
        var port = FreePort.Next();
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

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new AzuriteServer(process, port);
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
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        await server.DisposeAsync();
        throw new TimeoutException($"azurite-table did not listen on {port} within 30 s");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
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
