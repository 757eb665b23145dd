using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>
/// A partition ingester's hold on the commit gate of its partition's receiver on the same silo (when it runs there):
/// found on a delivery while none is held, held from then on, told what is durable, failed, or released. Sequence
/// numbers reported to a gate are those of its own receiver's deliveries, so the last delivery applied under the hold
/// (<see cref="AppliedThrough"/>) starts again with each gate. Plain code over <see cref="IStreamCommitGate"/>, tested
/// without a cluster.
/// </summary>
/// <param name="findLocalGate">The gate of the partition's receiver on this silo, or null when it does not run here.</param>
internal sealed class CommitGateLease(Func<IStreamCommitGate?> findLocalGate)
{
    private IStreamCommitGate? _gate;

    /// <summary>A gate is held: deliveries are applied in memory and made durable by checkpoints.</summary>
    public bool IsHeld => _gate is not null;

    /// <summary>The held gate's receiver stopped (the partition moved): what is unwritten must be written, then the lease dropped.</summary>
    public bool IsClosed => _gate is { IsClosed: true };

    /// <summary>A checkpoint failed under this gate: nothing more is reported through it until the lease is dropped.</summary>
    public bool IsFailed { get; private set; }

    /// <summary>The newest delivery (sequence number) applied under the held gate; -1 before the first.</summary>
    public long AppliedThrough { get; private set; } = -1;

    /// <summary>The partition's receiver runs on this silo now (whether or not this lease holds its gate).</summary>
    public bool ReceiverHere => findLocalGate() is { IsClosed: false };

    /// <summary>
    /// Looks for the gate while none is held (the partition's receiver may come back to this silo) and holds it when
    /// found, before the delivery at hand returns, so none of its batches is committed on delivery alone. True when
    /// a gate was newly held.
    /// </summary>
    public bool TryHold()
    {
        if (_gate is not null || findLocalGate() is not { } gate)
        {
            return false;
        }

        gate.Hold();
        _gate = gate;
        AppliedThrough = -1;
        return true;
    }

    /// <summary>A delivery through <paramref name="sequenceNumber"/> was applied under the held gate.</summary>
    public void Applied(long sequenceNumber) => AppliedThrough = Math.Max(AppliedThrough, sequenceNumber);

    /// <summary>Everything applied through <paramref name="sequenceNumber"/> is durable (nothing to report before the first delivery).</summary>
    public void Durable(long sequenceNumber)
    {
        if (sequenceNumber >= 0)
        {
            _gate?.Durable(sequenceNumber);
        }
    }

    /// <summary>Entities could not be made durable: the receiver's commits stop before them, and its next reader replays them.</summary>
    public void Fail()
    {
        IsFailed = true;
        _gate?.Fail();
    }

    /// <summary>Forgets a gate whose receiver stopped, once what was applied under it is written.</summary>
    public void Drop()
    {
        _gate = null;
        IsFailed = false;
    }

    /// <summary>The ingester is going: delivered batches are committable again (later deliveries find a new activation).</summary>
    public void Release() => _gate?.Release();
}
