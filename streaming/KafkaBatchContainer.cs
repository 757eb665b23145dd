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
