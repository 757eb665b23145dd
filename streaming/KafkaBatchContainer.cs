using Orleans;
using Orleans.Runtime;
using Orleans.Providers.Streams.Common;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// The events of one stream from one pull of one partition, delivered together so the consumer can apply and persist
/// them in one step. <see cref="Offsets"/> are the source message offsets, used to commit once delivered.
/// </summary>
[GenerateSerializer, Alias("of.kafka.BatchContainer")]
public sealed class KafkaBatchContainer : IBatchContainer
{
    public KafkaBatchContainer(StreamId streamId, List<object> events, long[] offsets, EventSequenceTokenV2 sequenceToken)
    {
        StreamId = streamId;
        Events = events;
        Offsets = offsets;
        Token = sequenceToken;
    }

    [Id(0)] public StreamId StreamId { get; }

    [Id(1)] public List<object> Events { get; }

    [Id(2)] public long[] Offsets { get; }

    [Id(3)] public EventSequenceTokenV2 Token { get; }

    public StreamSequenceToken SequenceToken => Token;

    /// <summary>
    /// One batch holding the events of the stream's cached batches at positions <paramref name="from"/> (inclusive)
    /// to <paramref name="to"/> (exclusive), in order, with the token of the last: delivered in their place, so the
    /// agent's handshake continues after the last of them. Offsets keep their order (each batch comes from a later
    /// pull of the same partition than the one before it).
    /// </summary>
    internal static KafkaBatchContainer Join(StreamQueue queue, long from, long to, int eventCount, int offsetCount)
    {
        var events = new List<object>(eventCount);
        var offsets = new long[offsetCount];
        var written = 0;
        KafkaBatchContainer? last = null;
        for (var position = from; position < to; position++)
        {
            last = (KafkaBatchContainer)queue.BatchAt(position);
            events.AddRange(last.Events);
            last.Offsets.CopyTo(offsets, written);
            written += last.Offsets.Length;
        }

        return new KafkaBatchContainer(last!.StreamId, events, offsets, last.Token);
    }

    public IEnumerable<Tuple<T, StreamSequenceToken>> GetEvents<T>()
    {
        for (var i = 0; i < Events.Count; i++)
        {
            if (Events[i] is T typed)
            {
                yield return Tuple.Create<T, StreamSequenceToken>(typed, Token.CreateSequenceTokenForEvent(i));
            }
        }
    }

    public bool ImportRequestContext() => false;

    public override string ToString() => $"[KafkaBatchContainer {StreamId}: {Events.Count} events from offsets {Offsets[0]}..{Offsets[^1]}]";
}
