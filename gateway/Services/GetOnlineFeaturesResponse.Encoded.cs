using System.Buffers;
using Grpc.Core;

namespace OrleansFeatures.V1;

/// <summary>
/// A lookup answer the gateway has already encoded (<see cref="Gateway.Services.LookupResponseEncoder"/>): the gRPC
/// response marshaller writes those bytes instead of this (empty) message. Only gRPC calls get one; HTTP/JSON gets
/// the message itself, because JSON transcoding formats the message and never calls the marshaller.
/// </summary>
public sealed partial class GetOnlineFeaturesResponse
{
    private byte[]? _encoded;
    private int _encodedLength;

    internal void AttachEncoded(byte[] pooledBuffer, int length)
    {
        _encoded = pooledBuffer;
        _encodedLength = length;
    }

    /// <summary>Writes the attached bytes and returns their buffer to the pool; false when none are attached.</summary>
    internal bool TryWriteEncoded(SerializationContext context)
    {
        if (_encoded is not { } buffer)
        {
            return false;
        }

        _encoded = null;
        context.SetPayloadLength(_encodedLength);
        var writer = context.GetBufferWriter();
        buffer.AsSpan(0, _encodedLength).CopyTo(writer.GetSpan(_encodedLength));
        writer.Advance(_encodedLength);
        context.Complete();
        ArrayPool<byte>.Shared.Return(buffer);
        return true;
    }
}
