using Orleans.Serialization;
using Orleans.Storage;

namespace OrleansFeatures.Grains.Storage;

/// <summary>
/// Orleans' binary serializer for grain state, writing each state into one exactly sized array. Orleans' own
/// <c>OrleansGrainStorageSerializer</c> grows a fresh buffer from 256 bytes on every write and hands back a slice of
/// it, which storage then copies again; entity grains write after every batch, so that was ~4 bytes allocated per
/// byte stored. Same wire format: state written by either reads with the other.
/// </summary>
public sealed class BinaryGrainStorageSerializer(Serializer serializer) : IGrainStorageSerializer
{
    public BinaryData Serialize<T>(T? value) => new(serializer.SerializeToArray(value));

    public T? Deserialize<T>(BinaryData input) => serializer.Deserialize<T>(input.ToMemory());
}
