using System.Collections.Concurrent;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Grains.Tests;

/// <summary>The silo's ingestion lane on its own: its threads, their priority, its queue, cancellation, shutdown and failures.</summary>
public sealed class IngestionLaneTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Work_runs_on_the_lanes_own_threads_and_its_callers_resume_off_them()
    {
        using var lane = new IngestionLane(workers: 2, workerNice: 0, capacity: 64);
        var runs = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => lane.RunAsync(
            static _ => (Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread, Environment.CurrentManagedThreadId), 0)));

        Assert.All(runs, run => Assert.StartsWith("ingest-lane-", run.Name));
        Assert.DoesNotContain(runs, run => run.IsThreadPoolThread);
        Assert.InRange(runs.Select(run => run.CurrentManagedThreadId).Distinct().Count(), 1, 2);
        Assert.DoesNotContain(Environment.CurrentManagedThreadId, runs.Select(run => run.CurrentManagedThreadId));

        await lane.RunAsync(static _ => 0, 0);
        Assert.False(Thread.CurrentThread.Name?.StartsWith("ingest-lane-", StringComparison.Ordinal) ?? false);
    }

    [Fact]
    public async Task Workers_run_WorkerNice_steps_below_the_priority_of_the_thread_that_started_them()
    {
        Assert.True(ThreadNice.IsSupported, "these tests run on Linux");
        var own = ThreadNice.Read(ThreadNice.CurrentThreadId());
        Assert.NotNull(own);

        using var lane = new IngestionLane(workers: 2, workerNice: 7, capacity: 64);
        var tids = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => lane.RunAsync(static _ => ThreadNice.CurrentThreadId(), 0)));

        Assert.Equal(0, lane.PriorityFailures);
        Assert.All(tids.Distinct(), tid => Assert.Equal(Math.Min(ThreadNice.Max, own.Value + 7), ThreadNice.Read(tid)));
        // The caller's own thread is untouched.
        Assert.Equal(own, ThreadNice.Read(ThreadNice.CurrentThreadId()));
    }

    [Fact]
    public async Task With_WorkerNice_0_workers_keep_the_priority_of_the_thread_that_started_them()
    {
        var own = ThreadNice.Read(ThreadNice.CurrentThreadId());
        using var lane = new IngestionLane(workers: 1, workerNice: 0, capacity: 64);
        var tid = await lane.RunAsync(static _ => ThreadNice.CurrentThreadId(), 0);

        Assert.NotNull(own);
        Assert.Equal(own, ThreadNice.Read(tid));
    }

    [Fact]
    public async Task A_failing_item_throws_to_its_caller_is_counted_and_the_worker_goes_on()
    {
        using var lane = new IngestionLane(workers: 1, workerNice: 0, capacity: 64);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => lane.RunAsync<int, int>(static _ => throw new InvalidOperationException("packing failed"), 0));

        Assert.Equal("packing failed", failure.Message);
        Assert.Equal(1, lane.Failed);
        Assert.Equal(42, await lane.RunAsync(static x => x * 2, 21));
        Assert.Equal(1, lane.Failed);
    }

    [Fact]
    public async Task An_item_cancelled_while_queued_is_skipped_and_its_caller_answered_at_once()
    {
        using var lane = new IngestionLane(workers: 1, workerNice: 0, capacity: 64);
        using var release = new ManualResetEventSlim();
        var blocker = BlockWorkerAsync(lane, release, out var blocking);
        await blocking.WaitAsync(Deadline);
        using var cancel = new CancellationTokenSource();
        var ran = 0;
        var queued = lane.RunAsync(_ => Interlocked.Increment(ref ran), 0, cancel.Token);
        var after = lane.RunAsync(static x => x, 5);

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued.WaitAsync(Deadline));
        release.Set();
        await blocker.WaitAsync(Deadline);

        Assert.Equal(5, await after.WaitAsync(Deadline));
        Assert.Equal(0, Volatile.Read(ref ran));
        Assert.Equal(0, lane.QueueLength);
        Assert.Equal(0, lane.Failed);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lane.RunAsync(static x => x, 1, cancel.Token));
    }

    [Fact]
    public async Task Shutdown_runs_everything_queued_before_it_and_refuses_work_after_it()
    {
        var lane = new IngestionLane(workers: 2, workerNice: 0, capacity: 64);
        using var release = new ManualResetEventSlim();
        var blockers = new[] { BlockWorkerAsync(lane, release, out var first), BlockWorkerAsync(lane, release, out var second) };
        await Task.WhenAll(first, second).WaitAsync(Deadline);
        var ran = new ConcurrentBag<int>();
        var queued = Enumerable.Range(0, 20).Select(i => lane.RunAsync(x => { ran.Add(x); return x; }, i)).ToArray();
        Assert.Equal(20, lane.QueueLength);

        var stopping = Task.Run(lane.Dispose);
        // Shutdown waits for the queue: nothing queued is dropped while the workers are busy.
        await Assert.ThrowsAsync<TimeoutException>(() => stopping.WaitAsync(TimeSpan.FromMilliseconds(100)));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => lane.RunAsync(static x => x, 99));
        release.Set();
        await stopping.WaitAsync(Deadline);

        await Task.WhenAll(blockers);
        Assert.Equal(Enumerable.Range(0, 20), (await Task.WhenAll(queued)).Order());
        Assert.Equal(Enumerable.Range(0, 20), ran.Order());
        Assert.Equal(0, lane.QueueLength);
    }

    [Fact]
    public async Task A_full_queue_makes_callers_wait_for_room_without_dropping_work()
    {
        using var lane = new IngestionLane(workers: 1, workerNice: 0, capacity: 2);
        using var release = new ManualResetEventSlim();
        var blocker = BlockWorkerAsync(lane, release, out var blocking);
        await blocking.WaitAsync(Deadline);
        var fits = new[] { lane.RunAsync(static x => x, 1), lane.RunAsync(static x => x, 2) };

        var waits = lane.RunAsync(static x => x, 3);
        Assert.Equal(2, lane.QueueLength);
        Assert.False(waits.IsCompleted);

        release.Set();
        await blocker.WaitAsync(Deadline);
        Assert.Equal(new[] { 1, 2, 3 }, await Task.WhenAll(fits.Append(waits)).WaitAsync(Deadline));
    }

    /// <summary>Occupies one worker until <paramref name="release"/> is set; <paramref name="blocking"/> completes once it has.</summary>
    private static Task<int> BlockWorkerAsync(IngestionLane lane, ManualResetEventSlim release, out Task blocking)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        blocking = started.Task;
        return lane.RunAsync(
            static state =>
            {
                state.started.SetResult();
                state.release.Wait();
                return 0;
            },
            (started, release));
    }
}
