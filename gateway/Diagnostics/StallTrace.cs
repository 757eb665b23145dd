using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace OrleansFeatures.Gateway.Diagnostics;

/// <summary>
/// Opt-in wall-clock trace for diagnosing serving latency (<c>FeatureStore:Diagnostics:StallTraceDirectory</c>, off by
/// default; <c>bench serving-under-ingest --trace DIR</c> turns it on). Every 10 ms a dedicated thread records how
/// late its own sleep woke (a managed thread is held by a GC suspension too), how long a probe queued to the .NET thread
/// pool waited to run (the pool's queueing), the pool's queue length and threads, the GC's total pause and collection
/// counts and the process CPU; each GC's pause, promoted bytes and generation sizes; and the arrival time and duration
/// of every lookup and inference request as the middleware sees it. Written as CSV files into the directory, for
/// <c>bench/stall-trace.py</c> to line up with the client's own record of each call. The sampler costs one wake-up
/// and one pool work item per 10 ms.
/// </summary>
internal sealed partial class StallTrace(IConfiguration configuration, ILogger<StallTrace> logger) : IHostedService
{
    public const string Setting = "FeatureStore:Diagnostics:StallTraceDirectory";
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(10);
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly CancellationTokenSource _stop = new();
    private Thread? _thread;
    private long _probeMaxTicks;

    public static bool IsEnabled(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration[Setting]);

    /// <summary>Microseconds since the Unix epoch, the clock both sides of the trace share.</summary>
    public static long UnixMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    /// <summary>Times every lookup and inference request from the middleware's entry to the response's end.</summary>
    public async Task TimeAsync(HttpContext context, RequestDelegate next)
    {
        var started = Stopwatch.GetTimestamp();
        var startedUnix = UnixMicros();
        await next(context);
        var path = context.Request.Path.Value ?? "";
        var kind = path.EndsWith("/GetOnlineFeatures", StringComparison.Ordinal) ? "L"
            : path.EndsWith("/GetInferenceInputs", StringComparison.Ordinal) ? "I"
            : null;
        if (kind is not null)
        {
            _requests.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{kind},{startedUnix},{Stopwatch.GetElapsedTime(started).TotalMicroseconds:0}"));
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var directory = configuration[Setting]!;
        Directory.CreateDirectory(directory);
        LogStarted(logger, directory);
        // Its own thread, not a pool thread: the sampler must keep its pace whatever the pool is doing.
        _thread = new Thread(() => Run(directory)) { IsBackground = true, Name = "stall-trace" };
        _thread.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(2));
        return Task.CompletedTask;
    }

    private void Run(string directory)
    {
        try
        {
            using var samples = new StreamWriter(Path.Combine(directory, "gateway-samples.csv"));
            using var requests = new StreamWriter(Path.Combine(directory, "gateway-requests.csv"));
            using var gcs = new StreamWriter(Path.Combine(directory, "gateway-gcs.csv"));
            samples.WriteLine("unix_us,oversleep_us,tp_probe_max_us,pending,threads,gc_pause_ms,gen0,gen1,gen2,cpu_ms");
            requests.WriteLine("kind,start_unix_us,duration_us");
            gcs.WriteLine("unix_us,index,generation,concurrent,compacted,pause_ms,pause2_ms,promoted_kb,heap_kb,gen0_before_kb,gen1_before_kb,gen0_after_kb,gen1_after_kb,gen2_after_kb,pause_pct");
            using var process = Process.GetCurrentProcess();
            long lastGc = 0;
            var last = Stopwatch.GetTimestamp();
            while (!_stop.IsCancellationRequested)
            {
                _stop.Token.WaitHandle.WaitOne(Period);
                var now = Stopwatch.GetTimestamp();
                var oversleep = Stopwatch.GetElapsedTime(last, now) - Period;
                last = now;
                // The longest wait, since the previous sample, of a probe queued to the pool's global queue, as a
                // Kestrel request or a socket completion is.
                ThreadPool.UnsafeQueueUserWorkItem(static state => state.Self.RecordProbe(state.Queued), (Self: this, Queued: now), preferLocal: false);
                var probeMax = Interlocked.Exchange(ref _probeMaxTicks, 0) * 1e6 / Stopwatch.Frequency;
                process.Refresh();
                samples.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{UnixMicros()},{oversleep.TotalMicroseconds:0},{probeMax:0},{ThreadPool.PendingWorkItemCount},{ThreadPool.ThreadCount},{GC.GetTotalPauseDuration().TotalMilliseconds:0.0},{GC.CollectionCount(0)},{GC.CollectionCount(1)},{GC.CollectionCount(2)},{process.TotalProcessorTime.TotalMilliseconds:0}"));
                var info = GC.GetGCMemoryInfo(GCKind.Any);
                if (info.Index != lastGc)
                {
                    // The newest GC only: two within one period show as one.
                    lastGc = info.Index;
                    var g = info.GenerationInfo;
                    gcs.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{UnixMicros()},{info.Index},{info.Generation},{info.Concurrent},{info.Compacted},{info.PauseDurations[0].TotalMilliseconds:0.0},{(info.PauseDurations.Length > 1 ? info.PauseDurations[1].TotalMilliseconds : 0):0.0},{info.PromotedBytes / 1024},{info.HeapSizeBytes / 1024},{g[0].SizeBeforeBytes / 1024},{g[1].SizeBeforeBytes / 1024},{g[0].SizeAfterBytes / 1024},{g[1].SizeAfterBytes / 1024},{g[2].SizeAfterBytes / 1024},{info.PauseTimePercentage:0.0}"));
                }

                while (_requests.TryDequeue(out var line))
                {
                    requests.WriteLine(line);
                }

                // Flushed every period: the bench stops the gateway by killing it.
                samples.Flush();
                requests.Flush();
                gcs.Flush();
            }
        }
        catch (Exception exception)
        {
            LogFailed(logger, exception, configuration[Setting]!);
        }
    }

    private void RecordProbe(long queued)
    {
        var waited = Stopwatch.GetTimestamp() - queued;
        long seen;
        while (waited > (seen = Interlocked.Read(ref _probeMaxTicks)) && Interlocked.CompareExchange(ref _probeMaxTicks, waited, seen) != seen)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stall trace on: sampling the runtime every 10 ms and timing every lookup into {Directory} (a diagnostic; FeatureStore:Diagnostics:StallTraceDirectory)")]
    private static partial void LogStarted(ILogger logger, string directory);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stall trace into {Directory} failed and stopped")]
    private static partial void LogFailed(ILogger logger, Exception exception, string directory);
}
