using Orleans.Runtime;
using Orleans.Streaming.EventHubs;
using Orleans.Streams;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>One mapped event of a partition, at its sequence number.</summary>
[GenerateSerializer, Alias("of.eventhubs.BatchContainer")]
public sealed class EventHubMappedBatchContainer(StreamId streamId, object payload, EventHubSequenceTokenV2 token) : IBatchContainer
{
    [Id(0)] public StreamId StreamId { get; } = streamId;

    [Id(1)] public object Payload { get; } = payload;

    [Id(2)] public EventHubSequenceTokenV2 Token { get; } = token;

    public StreamSequenceToken SequenceToken => Token;

    public IEnumerable<Tuple<T, StreamSequenceToken>> GetEvents<T>()
    {
        if (Payload is T typed)
        {
            yield return Tuple.Create<T, StreamSequenceToken>(typed, Token);
        }
    }

    public bool ImportRequestContext() => false;

    public override string ToString() => $"[EventHubMappedBatchContainer {StreamId} at {Token.SequenceNumber}]";
}
