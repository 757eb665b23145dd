using System.Diagnostics;
using System.Text;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// The real gateway executable (or, from <see cref="Worker"/>, the headless worker silo), started as a child process
/// on free loopback ports with its SQLite file in a folder the test owns, so a test can kill it (SIGKILL) and start it
/// again on the same data.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly string _dataDirectory;
    private readonly string[] _extraArgs;
    private readonly bool _worker;
    private readonly StringBuilder _output = new();
    private Process? _process;

    public GatewayProcess(string dataDirectory, params string[] extraArgs)
        : this(dataDirectory, worker: false, extraArgs)
    {
    }

    private GatewayProcess(string dataDirectory, bool worker, string[] extraArgs)
    {
        _dataDirectory = dataDirectory;
        _extraArgs = extraArgs;
        _worker = worker;
        GrpcPort = FreePort.Next();
        HttpPort = FreePort.Next();
        SiloPort = FreePort.Next();
        OrleansGatewayPort = FreePort.Next();
    }

    /// <summary>The worker silo executable: grains only, HTTP for probes and metrics on <see cref="HttpPort"/>, no gRPC.</summary>
    public static GatewayProcess Worker(string dataDirectory, params string[] extraArgs) => new(dataDirectory, worker: true, extraArgs);

    public int GrpcPort { get; }

    public int HttpPort { get; }

    public int SiloPort { get; }

    public int OrleansGatewayPort { get; }

    /// <summary>Peak resident memory of the gateway process so far (Linux VmHWM), or 0 when it is not running.</summary>
    public long PeakWorkingSetBytes
    {
        get
        {
            if (_process is not { HasExited: false } process)
            {
                return 0;
            }

            process.Refresh();
            return process.PeakWorkingSet64;
        }
    }

    /// <summary>Resident memory of the gateway process now (Linux <c>/proc/PID/status</c> VmRSS), or 0 when it is not running.</summary>
    public long ResidentBytes => ReadStatusKibibytes("VmRSS:") * 1024;

    /// <summary>CPU time (user + system) the gateway process has used so far.</summary>
    public TimeSpan CpuTime
    {
        get
        {
            if (_process is not { HasExited: false } process)
            {
                return TimeSpan.Zero;
            }

            process.Refresh();
            return process.TotalProcessorTime;
        }
    }

    /// <summary>
    /// Passes <c>--FeatureStore:Auth:Mode=None</c> (the gateway requires API keys outside the quickstart); set false to
    /// start with the gateway's own default, or pass the auth settings as arguments.
    /// </summary>
    public bool AuthOff { get; init; } = true;

    /// <summary>True while the started process has not exited.</summary>
    public bool IsRunning => _process is { HasExited: false };

    public Uri GrpcAddress => new($"http://127.0.0.1:{GrpcPort}");

    /// <summary>The probe and metrics endpoint, e.g. <c>HttpAddress + "healthz/ready"</c>.</summary>
    public Uri HttpAddress => new($"http://127.0.0.1:{HttpPort}/");

    /// <summary>The process id while running, else 0.</summary>
    public int ProcessId => _process is { HasExited: false } process ? process.Id : 0;

    /// <summary>Everything the process wrote to stdout and stderr, for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string GatewayDll =>
        Path.Combine(RepositoryPaths.Root, "gateway", "bin", RepositoryPaths.Configuration, "net10.0", "OrleansFeatures.Gateway.dll");

    public static string WorkerDll =>
        Path.Combine(RepositoryPaths.Root, "silo", "bin", RepositoryPaths.Configuration, "net10.0", "OrleansFeatures.Silo.dll");

    /// <summary>Starts the process and waits until its readiness endpoint answers.</summary>
    public Task StartAsync(TimeSpan? timeout = null) => StartAsync(timeout, waitForReady: true);

    /// <summary>Starts the process; waits until its readiness endpoint answers only when <paramref name="waitForReady"/>.</summary>
    public async Task StartAsync(TimeSpan? timeout, bool waitForReady)
    {
        var dll = _worker ? WorkerDll : GatewayDll;
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"{(_worker ? "worker silo" : "gateway")} not built at {dll}", dll);
        }

        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = _dataDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        if (!_worker)
        {
            start.ArgumentList.Add($"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{GrpcPort}");
            start.ArgumentList.Add("--Kestrel:Endpoints:Grpc:Protocols=Http2");
        }

        foreach (var arg in new[]
        {
            $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{HttpPort}",
            "--Kestrel:Endpoints:Http:Protocols=Http1",
            $"--FeatureStore:SiloPort={SiloPort}",
            $"--FeatureStore:GatewayPort={OrleansGatewayPort}",
            $"--FeatureStore:Sqlite:DatabasePath={Path.Combine(_dataDirectory, "store.db")}",
            "--FeatureStore:Definitions:RefreshInterval=00:00:01",
            "--Logging:LogLevel:Default=Warning",
        })
        {
            start.ArgumentList.Add(arg);
        }

        if (AuthOff && !_worker)
        {
            start.ArgumentList.Add("--FeatureStore:Auth:Mode=None");
        }

        foreach (var arg in _extraArgs)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        _process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        if (!waitForReady)
        {
            return;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                // Waits until the redirected streams are read to their end: the reason it exited is usually the last
                // thing it wrote.
                await _process.WaitForExitAsync();
                throw new InvalidOperationException($"{(_worker ? "worker silo" : "gateway")} exited with code {_process.ExitCode} before it was ready:\n{Output}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{HttpPort}/healthz/ready"));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{(_worker ? "worker silo" : "gateway")} was not ready within the timeout:\n{Output}");
    }

    /// <summary>SIGKILL: no graceful shutdown, no flush; what was acknowledged must already be durable.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Graceful stop (SIGTERM) and wait for exit.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])?.WaitForExit();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(40));
            await process.WaitForExitAsync(timeout.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }

    private long ReadStatusKibibytes(string field)
    {
        if (_process is not { HasExited: false } process)
        {
            return 0;
        }

        try
        {
            foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
            // Exited between the check and the read.
        }

        return 0;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
