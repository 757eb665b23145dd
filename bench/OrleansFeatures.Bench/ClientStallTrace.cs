using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

/// <summary>
/// The bench process's half of <c>--trace DIR</c> (the gateway writes the other half, <c>gateway/Diagnostics/StallTrace.cs</c>):
/// every call's scheduled start and latency, and every 10 ms this process's own thread-pool probe delay, sleep
/// overshoot and GC pause, so a slow call can be charged to the gateway or to the client that measured it.
/// <c>bench/stall-trace.py DIR</c> reads both.
/// </summary>
internal sealed class ClientStallTrace : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(10);
    private static readonly long AnchorTimestamp = Stopwatch.GetTimestamp();
    private static readonly long AnchorUnixMicros = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
    private readonly ConcurrentQueue<string> _calls = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private long _probeMaxTicks;

    public ClientStallTrace(string directory)
    {
        Directory.CreateDirectory(directory);
        _thread = new Thread(() => Run(directory)) { IsBackground = true, Name = "client-stall-trace" };
        _thread.Start();
    }

    /// <summary>The phase the calls recorded from now on belong to.</summary>
    public string Phase { get; set; } = "warm-up";

    /// <summary>A recorder for <see cref="LoadRunner.OpenAsync"/>: call kind, scheduled start and latency (stopwatch ticks).</summary>
    public Action<long, long> For(string kind) => (scheduled, latency) =>
        _calls.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{Phase},{kind},{Unix(scheduled)},{latency * 1e6 / Stopwatch.Frequency:0}"));

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join(TimeSpan.FromSeconds(2));
    }

    private static long Unix(long timestamp) => AnchorUnixMicros + (long)((timestamp - AnchorTimestamp) * 1e6 / Stopwatch.Frequency);

    private void Run(string directory)
    {
        using var samples = new StreamWriter(Path.Combine(directory, "client-samples.csv"));
        using var calls = new StreamWriter(Path.Combine(directory, "client-calls.csv"));
        samples.WriteLine("unix_us,oversleep_us,tp_probe_max_us,pending,threads,gc_pause_ms,gen0,gen1,gen2");
        calls.WriteLine("phase,kind,scheduled_unix_us,latency_us");
        var last = Stopwatch.GetTimestamp();
        while (!_stop.IsCancellationRequested)
        {
            _stop.Token.WaitHandle.WaitOne(Period);
            var now = Stopwatch.GetTimestamp();
            var oversleep = Stopwatch.GetElapsedTime(last, now) - Period;
            last = now;
            ThreadPool.UnsafeQueueUserWorkItem(static state => state.Self.RecordProbe(state.Queued), (Self: this, Queued: now), preferLocal: false);
            var probeMax = Interlocked.Exchange(ref _probeMaxTicks, 0) * 1e6 / Stopwatch.Frequency;
            samples.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Unix(now)},{oversleep.TotalMicroseconds:0},{probeMax:0},{ThreadPool.PendingWorkItemCount},{ThreadPool.ThreadCount},{GC.GetTotalPauseDuration().TotalMilliseconds:0.0},{GC.CollectionCount(0)},{GC.CollectionCount(1)},{GC.CollectionCount(2)}"));
            while (_calls.TryDequeue(out var line))
            {
                calls.WriteLine(line);
            }
        }

        while (_calls.TryDequeue(out var line))
        {
            calls.WriteLine(line);
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
}
