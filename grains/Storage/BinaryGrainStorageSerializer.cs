using System.Buffers;
using Orleans.Serialization;
using Orleans.Storage;

namespace OrleansFeatures.Grains.Storage;

/// <summary>
/// Orleans' binary serializer for grain state, writing each state into one exactly sized array. Orleans' own
/// <c>OrleansGrainStorageSerializer</c> grows a fresh buffer from 256 bytes on every write and hands back a slice of
/// it, which storage then copies again; entity grains write after every batch, so that was ~4 bytes allocated per
/// byte stored. Same wire format: state written by either reads with the other. Storage that can bind bytes by their
/// length (SQLite) serializes into a buffer of its own instead (<see cref="IBufferGrainStorageSerializer"/>) and
/// allocates no array per write; storage whose API takes an array (Azure) keeps <see cref="Serialize{T}(T)"/>.
/// </summary>
public sealed class BinaryGrainStorageSerializer(Serializer serializer) : IBufferGrainStorageSerializer
{
    public BinaryData Serialize<T>(T? value) => new(serializer.SerializeToArray(value));

    public void Serialize<T>(T? value, IBufferWriter<byte> destination) => serializer.Serialize(value, destination);

    public T? Deserialize<T>(BinaryData input) => serializer.Deserialize<T>(input.ToMemory());
}

/// <summary>A grain-state serializer that can write into a caller's buffer: byte for byte what <see cref="IGrainStorageSerializer.Serialize{T}"/> returns.</summary>
public interface IBufferGrainStorageSerializer : IGrainStorageSerializer
{
    /// <summary>Appends the serialized state to <paramref name="destination"/>.</summary>
    void Serialize<T>(T? value, IBufferWriter<byte> destination);
}
