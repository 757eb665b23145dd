using System.Buffers;

namespace OrleansFeatures.Grains.Storage;

/// <summary>
/// A growable byte buffer over an <see cref="ArrayPool{T}"/>: serialized state is written here and handed to storage
/// by its written length, so a write allocates no array of its own. <see cref="Dispose"/> gives the array back;
/// whoever owns the buffer disposes it only once nothing (a queued write, a span being serialized) refers to it.
/// </summary>
public sealed class PooledByteBuffer : IBufferWriter<byte>, IDisposable
{
    private readonly ArrayPool<byte> _pool;
    private byte[] _array;
    private int _written;

    public PooledByteBuffer(ArrayPool<byte> pool, int initialCapacity = 4096)
    {
        _pool = pool;
        _array = pool.Rent(Math.Max(initialCapacity, 256));
    }

    /// <summary>The bytes written so far (valid until the next write into the buffer or its disposal).</summary>
    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _written);

    /// <summary>The bytes written so far (valid until the next write into the buffer or its disposal).</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, _written);

    public int WrittenCount => _written;

    public void Advance(int count)
    {
        ObjectDisposedException.ThrowIf(_array.Length == 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _array.Length - _written)
        {
            throw new InvalidOperationException($"cannot advance {count} bytes past the buffer's end ({_array.Length - _written} left)");
        }

        _written += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _array.AsSpan(_written);
    }

    /// <summary>Returns the array to the pool; the buffer must not be used afterwards.</summary>
    public void Dispose()
    {
        var array = _array;
        if (array.Length == 0)
        {
            return;
        }

        _array = [];
        _written = 0;
        _pool.Return(array);
    }

    private void Ensure(int sizeHint)
    {
        ObjectDisposedException.ThrowIf(_array.Length == 0, this);
        var needed = Math.Max(sizeHint, 1);
        if (_array.Length - _written >= needed)
        {
            return;
        }

        var grown = _pool.Rent(checked(Math.Max(_array.Length * 2, _written + needed)));
        _array.AsSpan(0, _written).CopyTo(grown);
        _pool.Return(_array);
        _array = grown;
    }
}
