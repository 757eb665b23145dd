using System.Diagnostics;
using Microsoft.Extensions.Options;
using OrleansFeatures.Grains.Diagnostics;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// The silo's bounded ingestion lane: at most <see cref="IngestionOptions.Workers"/> deliveries are applied in place
/// at once, whatever the number of partitions this silo reads, so request handling keeps the other threads. A worker
/// is held only for CPU work, never across storage or a grain call. Shared by every stream provider.
/// </summary>
public sealed class IngestionLane(IOptions<IngestionOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(options.Value.Workers, options.Value.Workers);

    public int Workers { get; } = options.Value.Workers;

    /// <summary>Waits for a worker; dispose the lease when the unit of work is done (never hold it across a retry back-off).</summary>
    public async ValueTask<Lease> EnterAsync(CancellationToken cancellationToken = default)
    {
        if (!_slots.Wait(0, CancellationToken.None))
        {
            var started = Stopwatch.GetTimestamp();
            await _slots.WaitAsync(cancellationToken);
            FeatureStoreMetrics.IngestionLaneWait.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return new Lease(_slots);
    }

    public void Dispose() => _slots.Dispose();

    /// <summary>One worker of the lane, held until disposed.</summary>
    public readonly struct Lease(SemaphoreSlim slots) : IDisposable
    {
        public void Dispose() => slots.Release();
    }
}
