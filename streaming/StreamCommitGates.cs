using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Orleans.Runtime;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// A stream consumer's say over when the source offsets of the batches delivered to it may be committed. By default
/// a delivered batch is committable (the consumer made it durable before it returned). A consumer that applies
/// batches in memory and makes them durable later (a checkpoint) holds the gate: delivered batches then wait until
/// <see cref="Durable"/> covers them.
/// </summary>
public interface IStreamCommitGate
{
    /// <summary>From now on, delivered batches of this stream are committable only once <see cref="Durable"/> covers them.</summary>
    void Hold();

    /// <summary>Every batch of this stream whose sequence number is at most <paramref name="sequenceNumber"/> is durable.</summary>
    void Durable(long sequenceNumber);

    /// <summary>
    /// The consumer lost batches it had not made durable (a failed checkpoint): commits stop before the oldest batch
    /// <see cref="Durable"/> has not covered, until the receiver restarts, so those batches are read again.
    /// </summary>
    void Fail();

    /// <summary>
    /// The consumer makes later deliveries durable before it returns (or is deactivating after a final
    /// <see cref="Durable"/>): delivered batches are committable again. Batches delivered under the hold and not yet
    /// covered stay uncommitted until a later <see cref="Durable"/> covers them.
    /// </summary>
    void Release();

    /// <summary>The receiver behind this gate shut down (its partition moved or the silo is stopping): find the stream's gate again.</summary>
    bool IsClosed { get; }
}

/// <summary>
/// The commit gates of the streams this silo's receivers read, by stream id. A consumer finds its stream's gate here
/// only when the receiver of its partition runs on the same silo; otherwise it makes each delivery durable before it
/// returns.
/// </summary>
public sealed class StreamCommitGates
{
    private readonly ConcurrentDictionary<StreamId, IStreamCommitGate> _gates = new();

    public bool TryGet(StreamId streamId, [MaybeNullWhen(false)] out IStreamCommitGate gate) => _gates.TryGetValue(streamId, out gate);

    internal void Register(StreamId streamId, IStreamCommitGate gate) => _gates[streamId] = gate;

    internal void Unregister(StreamId streamId, IStreamCommitGate gate) => _gates.TryRemove(new KeyValuePair<StreamId, IStreamCommitGate>(streamId, gate));
}
