using System.Diagnostics;
using HdrHistogram;

/// <summary>What one load phase measured: latency in stopwatch ticks, completed calls, failures, elapsed time.</summary>
internal sealed record LoadResult(LongHistogram Latency, long Calls, long Errors, double Seconds)
{
    public double CallsPerSecond => Calls / Seconds;

    public double Milliseconds(double percentile) => Latency.TotalCount == 0 ? double.NaN : Latency.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency;
}

/// <summary>Drives a call at a fixed rate (open loop) or as fast as a number of concurrent callers allow (closed loop).</summary>
internal static class LoadRunner
{
    /// <summary>
    /// Starts call <c>i</c> at <c>start + i / rate</c> whether or not earlier calls have finished, and measures each
    /// from its scheduled start, so a server that falls behind shows its queueing in the latency (no coordinated omission).
    /// <paramref name="trace"/>, when given, gets each completed call's scheduled start and latency (stopwatch ticks).
    /// </summary>
    public static async Task<LoadResult> OpenAsync(Func<int, Task> call, double rate, TimeSpan duration, CancellationToken cancellationToken = default, Action<long, long>? trace = null)
    {
        var histogram = new LongHistogram(TimeStamp.Seconds(30), 3);
        var gate = new Lock();
        long errors = 0;
        var interval = Stopwatch.Frequency / rate;
        var pending = new List<Task>((int)(rate * duration.TotalSeconds) + 16);
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var issued = 0;
        while (true)
        {
            var now = Stopwatch.GetTimestamp();
            if (now >= end || cancellationToken.IsCancellationRequested)
            {
                break;
            }

            var due = (int)((now - start) / interval) + 1;
            for (; issued < due; issued++)
            {
                pending.Add(FireAsync(issued, start + (long)(issued * interval)));
            }

            await Task.Delay(1);
        }

        await Task.WhenAll(pending);
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new LoadResult(histogram, issued - errors, errors, seconds);

        async Task FireAsync(int i, long scheduled)
        {
            try
            {
                await call(i);
            }
            catch
            {
                Interlocked.Increment(ref errors);
                return;
            }

            var latency = Math.Max(0, Stopwatch.GetTimestamp() - scheduled);
            trace?.Invoke(scheduled, latency);
            lock (gate)
            {
                histogram.RecordValue(latency);
            }
        }
    }

    /// <summary><paramref name="concurrency"/> callers, each starting its next call when the last one answers.</summary>
    public static async Task<LoadResult> ClosedAsync(Func<int, Task> call, int concurrency, TimeSpan duration)
    {
        var histograms = new LongHistogram[concurrency];
        var errors = 0L;
        var counter = 0;
        var start = Stopwatch.GetTimestamp();
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = new Task[concurrency];
        for (var w = 0; w < concurrency; w++)
        {
            var histogram = histograms[w] = new LongHistogram(TimeStamp.Seconds(30), 3);
            workers[w] = Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < end)
                {
                    var i = Interlocked.Increment(ref counter);
                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        await call(i);
                        histogram.RecordValue(Stopwatch.GetTimestamp() - started);
                    }
                    catch
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            });
        }

        await Task.WhenAll(workers);
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var all = new LongHistogram(TimeStamp.Seconds(30), 3);
        foreach (var histogram in histograms)
        {
            all.Add(histogram);
        }

        return new LoadResult(all, all.TotalCount, errors, seconds);
    }
}
