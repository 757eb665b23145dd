using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans;
using Orleans.Runtime;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// The silo's ingestion lane: <see cref="IngestionOptions.Workers"/> dedicated threads, at a lower OS priority than the
/// process (<see cref="IngestionOptions.WorkerNice"/>), that run ingestion's CPU work: applying deliveries in place and
/// packing and serializing entity writes. Requests are handled on the .NET thread pool, which never runs this work,
/// and when the cores are contended the kernel runs those threads first. Fed by a bounded queue; the caller (a grain
/// turn) awaits its item, so the item runs while that turn is suspended and never beside it. An item must be
/// synchronous CPU work that touches another grain's state only through that grain's lock (the in-place apply and
/// write protocol, <c>docs/architecture.md</c>), and never waits for storage, a grain call or another item: a worker
/// held across a wait made deliveries queue behind fsyncs (docs/benchmarks.md, issue #22). Shared by every stream
/// provider.
/// </summary>
public sealed partial class IngestionLane : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    /// <summary>Queued items per worker before callers wait for room: deep enough that a checkpoint's writes never wait, bounded so a stalled lane holds no unbounded backlog.</summary>
    internal const int QueuedPerWorker = 1_024;

    /// <summary>How long shutdown waits for the workers to finish what was queued.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentQueue<WorkItem> _queue = new();
    private readonly SemaphoreSlim _queued = new(0);
    private readonly SemaphoreSlim _room;
    private readonly Thread[] _threads;
    private readonly ILogger _logger;
    private readonly Lock _stopLock = new();
    private int _priorityFailures;
    private long _failed;
    private bool _stopping;

    public IngestionLane(IOptions<IngestionOptions> options, ILogger<IngestionLane> logger)
        : this(options.Value.Workers, options.Value.WorkerNice, options.Value.Workers * QueuedPerWorker, logger)
    {
    }

    internal IngestionLane(int workers, int workerNice, int capacity, ILogger? logger = null)
    {
        Workers = workers;
        WorkerNice = workerNice;
        Capacity = capacity;
        _logger = logger ?? NullLogger.Instance;
        _room = new SemaphoreSlim(capacity, capacity);
        _threads = new Thread[workers];
        using var started = new CountdownEvent(workers);
        for (var i = 0; i < workers; i++)
        {
            _threads[i] = new Thread(() => Work(started))
            {
                IsBackground = true,
                Name = $"ingest-lane-{i}",
            };
            _threads[i].Start();
        }

        // Every worker has tried its priority before start-up goes on, so the log says what the lane runs at.
        started.Wait();
        var failures = Volatile.Read(ref _priorityFailures);
        LogStarted(_logger, workers, workerNice, ThreadNice.IsSupported && workerNice > 0 ? workers - failures : 0, capacity);
    }

    public int Workers { get; }

    /// <summary>Nice steps below the process's priority the workers were asked to run at (0: the process's own).</summary>
    public int WorkerNice { get; }

    /// <summary>Items the queue holds before <see cref="RunAsync"/> waits for room.</summary>
    public int Capacity { get; }

    /// <summary>Workers whose lower priority could not be set (they run at the process's priority).</summary>
    public int PriorityFailures => Volatile.Read(ref _priorityFailures);

    /// <summary>Work items that threw since the lane started.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Items queued and not yet started.</summary>
    public int QueueLength => _queue.Count;

    /// <summary>
    /// Runs <paramref name="work"/> on one of the lane's threads and completes with its result or its exception (also
    /// counted). The returned task's continuations never run on a lane thread. Cancelled before a worker starts it, the
    /// item is skipped and the task cancelled; once started, it runs to its end. Fails with
    /// <see cref="ObjectDisposedException"/> once the lane is shutting down.
    /// </summary>
    public Task<TResult> RunAsync<TState, TResult>(Func<TState, TResult> work, TState state, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<TResult>(cancellationToken);
        }

        var item = new WorkItem<TState, TResult>(this, work, state, cancellationToken);
        if (!_room.Wait(0, CancellationToken.None))
        {
            return EnqueueWhenRoomAsync(item);
        }

        return TryEnqueue(item) ? item.Completion.Task : Task.FromException<TResult>(ShuttingDown());
    }

    private async Task<TResult> EnqueueWhenRoomAsync<TState, TResult>(WorkItem<TState, TResult> item)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _stopping), this);
        var started = Stopwatch.GetTimestamp();
        await _room.WaitAsync(item.Token);
        FeatureStoreMetrics.IngestionLaneQueueFullWait.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (!TryEnqueue(item))
        {
            throw ShuttingDown();
        }

        return await item.Completion.Task;
    }

    /// <summary>Queues <paramref name="item"/>, which holds a unit of room; false (the room given back) once the lane is shutting down.</summary>
    private bool TryEnqueue(WorkItem item)
    {
        lock (_stopLock)
        {
            if (_stopping)
            {
                _room.Release();
                return false;
            }

            item.Queued = Stopwatch.GetTimestamp();
            _queue.Enqueue(item);
        }

        _queued.Release();
        return true;
    }

    private ObjectDisposedException ShuttingDown() => new(nameof(IngestionLane), "the ingestion lane is shutting down");

    private void Work(CountdownEvent started)
    {
        LowerPriority();
        started.Signal();
        while (true)
        {
            _queued.Wait();
            if (!_queue.TryDequeue(out var item))
            {
                // Only shutdown signals without an item: what was queued before it has all been taken.
                return;
            }

            _room.Release();
            FeatureStoreMetrics.IngestionLaneWait.Record(Stopwatch.GetElapsedTime(item.Queued).TotalMilliseconds);
            item.Run();
        }
    }

    private void LowerPriority()
    {
        if (WorkerNice <= 0 || !ThreadNice.IsSupported)
        {
            return;
        }

        if (!ThreadNice.TryLowerCurrent(WorkerNice, out _, out var error))
        {
            Interlocked.Increment(ref _priorityFailures);
            FeatureStoreMetrics.IngestionLanePriorityFailures.Add(1);
            LogPriorityFailed(_logger, Thread.CurrentThread.Name!, WorkerNice, error!);
        }
    }

    private void CountFailure(Exception exception)
    {
        Interlocked.Increment(ref _failed);
        FeatureStoreMetrics.IngestionLaneFailures.Add(1);
        LogWorkFailed(_logger, exception);
    }

    /// <summary>Nothing to do at a stage: resolving the lane as a participant starts its workers with the silo.</summary>
    void ILifecycleParticipant<ISiloLifecycle>.Participate(ISiloLifecycle lifecycle)
    {
    }

    /// <summary>
    /// Stops taking work and runs everything already queued (items cancelled meanwhile are skipped), then ends the
    /// workers. Called when the silo's services are disposed, after its grains deactivated: their last writes use the
    /// lane.
    /// </summary>
    public void Dispose()
    {
        lock (_stopLock)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
        }

        // One signal per worker beyond the queued items: each worker ends on the first it takes with the queue empty.
        _queued.Release(Workers);
        foreach (var thread in _threads)
        {
            if (thread != Thread.CurrentThread && !thread.Join(DrainTimeout))
            {
                LogDrainTimedOut(_logger, thread.Name!, DrainTimeout.TotalSeconds);
            }
        }
    }

    /// <summary>One queued unit of work and the task its caller awaits.</summary>
    private abstract class WorkItem
    {
        public long Queued;

        public abstract void Run();
    }

    private sealed class WorkItem<TState, TResult> : WorkItem
    {
        private readonly IngestionLane _lane;
        private readonly Func<TState, TResult> _work;
        private readonly TState _state;

        // The caller's context flows to the work (its trace, Orleans' request context), as the thread pool's would.
        private readonly ExecutionContext? _context = ExecutionContext.Capture();

        // Cancelled while queued, the caller is answered at once; the worker that takes the item skips it.
        private readonly CancellationTokenRegistration _cancellation;

        public WorkItem(IngestionLane lane, Func<TState, TResult> work, TState state, CancellationToken token)
        {
            _lane = lane;
            _work = work;
            _state = state;
            Token = token;
            if (token.CanBeCanceled)
            {
                _cancellation = token.UnsafeRegister(static (self, cancelled) => ((WorkItem<TState, TResult>)self!).Completion.TrySetCanceled(cancelled), this);
            }
        }

        public TaskCompletionSource<TResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationToken Token { get; }

        public override void Run()
        {
            _cancellation.Dispose();
            if (Token.IsCancellationRequested)
            {
                Completion.TrySetCanceled(Token);
                return;
            }

            if (_context is null)
            {
                Invoke();
            }
            else
            {
                ExecutionContext.Run(_context, static self => ((WorkItem<TState, TResult>)self!).Invoke(), this);
            }
        }

        private void Invoke()
        {
            try
            {
                Completion.TrySetResult(_work(_state));
            }
            catch (Exception exception)
            {
                _lane.CountFailure(exception);
                Completion.TrySetException(exception);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Ingestion lane: {Workers} worker threads, WorkerNice {WorkerNice} ({Lowered} of them below the process's priority), queue of {Capacity}")]
    private static partial void LogStarted(ILogger logger, int workers, int workerNice, int lowered, int capacity);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ingestion lane: worker {Thread} could not lower its priority by {WorkerNice} ({Error}); it runs at the process's priority")]
    private static partial void LogPriorityFailed(ILogger logger, string thread, int workerNice, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ingestion lane: a work item failed; its caller gets the exception")]
    private static partial void LogWorkFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Ingestion lane: worker {Thread} did not finish the queued work within {Seconds} s of shutdown")]
    private static partial void LogDrainTimedOut(ILogger logger, string thread, double seconds);
}
