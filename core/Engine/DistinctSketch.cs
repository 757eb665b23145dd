using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics;
using System.Runtime.InteropServices;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The distinct values of one tile of a <c>count_distinct</c> feature: the values' 64-bit hashes while there are at
/// most <see cref="ExactLimit"/> of them (sorted, so a tile's content depends only on its set of values), then a
/// HyperLogLog of <see cref="Registers"/> 6-bit registers (one byte each) from which nothing goes back. Adding is
/// idempotent, commutative and associative, and so is the union a read takes: a window's estimate depends only on the
/// set of values in its tiles, never on arrival order, restores or replays, so online and offline agree exactly.
/// </summary>
public sealed class DistinctSketch
{
    /// <summary>Register index bits: 2^12 registers, a relative standard error of 1.04/√4096 = 1.63%.</summary>
    public const int Precision = 12;

    public const int Registers = 1 << Precision;

    /// <summary>Most hashes kept exactly; beyond this the tile turns into registers (8 bytes a hash = the registers' 4 KiB).</summary>
    public const int ExactLimit = 512;

    /// <summary>Largest register value: the rank of the 52 bits left after the index, plus the all-zero case.</summary>
    private const int MaxRank = 64 - Precision + 1;

    internal const byte ExactForm = 0;
    internal const byte RegisterForm = 1;

    private ulong[]? _hashes;
    private int _count;
    private byte[]? _registers;

    /// <summary>True once the tile holds registers rather than exact hashes.</summary>
    public bool IsDense => _registers is not null;

    /// <summary>Exact hashes held (0 once dense).</summary>
    public int ExactCount => _count;

    /// <summary>Bytes of the packed form (<see cref="Write"/>).</summary>
    public int PackedBytes => _registers is not null ? 1 + Registers : 1 + VarintLength((ulong)_count) + (8 * _count);

    /// <summary>
    /// The hash a value is counted as (XXH3-64, stable across processes and releases): a string by its UTF-16 code
    /// units, an integer or an integral double by its 64-bit integer (so 5 and 5.0 are one value), any other double by
    /// its bits, a bool by itself; each kind with its own seed, so "1", 1 and true are three values.
    /// </summary>
    public static ulong Hash(in ScalarValue value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(long)];
        switch (value.Kind)
        {
            case ScalarKind.String:
                return XxHash3.HashToUInt64(MemoryMarshal.AsBytes(value.AsString.AsSpan()), seed: 1);
            case ScalarKind.Int64:
                BinaryPrimitives.WriteInt64LittleEndian(bytes, value.AsInt64);
                return XxHash3.HashToUInt64(bytes, seed: 2);
            case ScalarKind.Double:
                var number = value.AsDouble;
                if (Math.Floor(number) == number && number >= -9.2e18 && number <= 9.2e18)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(bytes, (long)number);
                    return XxHash3.HashToUInt64(bytes, seed: 2);
                }

                BinaryPrimitives.WriteInt64LittleEndian(bytes, BitConverter.DoubleToInt64Bits(number));
                return XxHash3.HashToUInt64(bytes, seed: 3);
            default:
                bytes[0] = value.Kind == ScalarKind.Bool && value.AsBool ? (byte)1 : (byte)0;
                return XxHash3.HashToUInt64(bytes[..1], seed: 4);
        }
    }

    public void Add(ulong hash)
    {
        if (_registers is { } registers)
        {
            Register(registers, hash);
            return;
        }

        var hashes = _hashes;
        var position = hashes is null ? ~0 : Array.BinarySearch(hashes, 0, _count, hash);
        if (position >= 0)
        {
            return;
        }

        position = ~position;
        if (_count == ExactLimit)
        {
            Densify();
            Register(_registers!, hash);
            return;
        }

        if (hashes is null || _count == hashes.Length)
        {
            var grown = new ulong[hashes is null ? 2 : Math.Min(hashes.Length * 2, ExactLimit)];
            if (hashes is not null)
            {
                Array.Copy(hashes, grown, _count);
            }

            _hashes = hashes = grown;
        }

        Array.Copy(hashes, position, hashes, position + 1, _count - position);
        hashes[position] = hash;
        _count++;
    }

    public DistinctSketch Clone() => new()
    {
        _hashes = _hashes is null ? null : _hashes.AsSpan(0, _count).ToArray(),
        _count = _count,
        _registers = _registers is null ? null : (byte[])_registers.Clone(),
    };

    /// <summary>Appends <c>form(u8: 0 exact, 1 registers)</c> then <c>count(varint) hash(u64)*</c> or the 4,096 register bytes.</summary>
    public void Write(IBufferWriter<byte> output)
    {
        if (_registers is { } registers)
        {
            var span = output.GetSpan(1 + Registers);
            span[0] = RegisterForm;
            registers.CopyTo(span[1..]);
            output.Advance(1 + Registers);
            return;
        }

        var bytes = PackedBytes;
        var target = output.GetSpan(bytes);
        target[0] = ExactForm;
        var at = 1 + FeatureViewState.StateWriter.Varint(target[1..], (ulong)_count);
        for (var i = 0; i < _count; i++, at += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(target[at..], _hashes![i]);
        }

        output.Advance(bytes);
    }

    /// <summary>Reads what <see cref="Write"/> wrote from the start of <paramref name="data"/>; returns the bytes read.</summary>
    public static DistinctSketch Read(ReadOnlySpan<byte> data, out int bytesRead)
    {
        if (data.IsEmpty)
        {
            throw new InvalidDataException("persisted distinct sketch is truncated");
        }

        var sketch = new DistinctSketch();
        if (data[0] == RegisterForm)
        {
            if (data.Length < 1 + Registers)
            {
                throw new InvalidDataException("persisted distinct sketch is truncated");
            }

            var registers = data.Slice(1, Registers).ToArray();
            foreach (var register in registers)
            {
                if (register > MaxRank)
                {
                    throw new InvalidDataException($"persisted distinct sketch has a register of {register}; the largest is {MaxRank}");
                }
            }

            sketch._registers = registers;
            bytesRead = 1 + Registers;
            return sketch;
        }

        if (data[0] != ExactForm)
        {
            throw new InvalidDataException($"persisted distinct sketch has unknown form {data[0]}");
        }

        var at = 1 + ReadVarint(data[1..], out var count);
        if (count > ExactLimit || (ulong)(data.Length - at) < count * 8)
        {
            throw new InvalidDataException($"persisted distinct sketch claims {count} hashes in {data.Length - at} bytes");
        }

        var hashes = new ulong[Math.Max(2, (int)count)];
        for (var i = 0; i < (int)count; i++, at += 8)
        {
            hashes[i] = BinaryPrimitives.ReadUInt64LittleEndian(data[at..]);
            if (i > 0 && hashes[i] <= hashes[i - 1])
            {
                throw new InvalidDataException("persisted distinct sketch has hashes out of order");
            }
        }

        sketch._hashes = hashes;
        sketch._count = (int)count;
        bytesRead = at;
        return sketch;
    }

    private void Densify()
    {
        var registers = new byte[Registers];
        for (var i = 0; i < _count; i++)
        {
            Register(registers, _hashes![i]);
        }

        _registers = registers;
        _hashes = null;
        _count = 0;
    }

    private static void Register(Span<byte> registers, ulong hash)
    {
        var index = (int)(hash >> (64 - Precision));
        var rest = hash << Precision;
        var rank = rest == 0 ? MaxRank : BitOperations.LeadingZeroCount(rest) + 1;
        if (rank > registers[index])
        {
            registers[index] = (byte)rank;
        }
    }

    private static int ReadVarint(ReadOnlySpan<byte> span, out ulong value)
    {
        value = 0;
        for (var i = 0; i < 10 && i < span.Length; i++)
        {
            value |= (ulong)(span[i] & 0x7F) << (7 * i);
            if (span[i] < 0x80)
            {
                return i + 1;
            }
        }

        throw new InvalidDataException("persisted distinct sketch has a malformed count");
    }

    private static int VarintLength(ulong value) => value < 0x80 ? 1 : (BitOperations.Log2(value) / 7) + 1;

    /// <summary>
    /// The union of the sketches of a window's tiles, as a read takes it: the exact number of distinct hashes while the
    /// union holds at most <see cref="ExactLimit"/>, else the HyperLogLog estimate of its registers. Buffers are pooled;
    /// call <see cref="Dispose"/>.
    /// </summary>
    internal struct Union : IDisposable
    {
        private ulong[]? _hashes;
        private int _count;
        private byte[]? _registers;

        public void Add(DistinctSketch sketch)
        {
            if (sketch._registers is { } dense)
            {
                var registers = Registers();
                for (var i = 0; i < registers.Length; i++)
                {
                    if (dense[i] > registers[i]) registers[i] = dense[i];
                }

                return;
            }

            if (_hashes is null || _count + sketch._count > _hashes.Length)
            {
                var grown = ArrayPool<ulong>.Shared.Rent(Math.Max(2 * ExactLimit, 2 * (_count + sketch._count)));
                if (_hashes is not null)
                {
                    Array.Copy(_hashes, grown, _count);
                    ArrayPool<ulong>.Shared.Return(_hashes);
                }

                _hashes = grown;
            }

            Array.Copy(sketch._hashes!, 0, _hashes, _count, sketch._count);
            _count += sketch._count;
        }

        public long Count()
        {
            var distinct = 0;
            if (_hashes is { } hashes && _count > 0)
            {
                var span = hashes.AsSpan(0, _count);
                span.Sort();
                distinct = 1;
                for (var i = 1; i < span.Length; i++)
                {
                    if (span[i] != span[i - 1]) span[distinct++] = span[i];
                }
            }

            if (_registers is null && distinct <= ExactLimit)
            {
                return distinct;
            }

            var registers = Registers();
            for (var i = 0; i < distinct; i++)
            {
                Register(registers, _hashes![i]);
            }

            return (long)Math.Round(Estimate(registers));
        }

        public void Dispose()
        {
            if (_hashes is not null) ArrayPool<ulong>.Shared.Return(_hashes);
            if (_registers is not null) ArrayPool<byte>.Shared.Return(_registers);
            _hashes = null;
            _registers = null;
        }

        private Span<byte> Registers()
        {
            if (_registers is null)
            {
                _registers = ArrayPool<byte>.Shared.Rent(DistinctSketch.Registers);
                Array.Clear(_registers, 0, DistinctSketch.Registers);
            }

            return _registers.AsSpan(0, DistinctSketch.Registers);
        }
    }

    /// <summary>
    /// Ertl's improved raw estimator ("New cardinality estimation algorithms for HyperLogLog sketches", 2017): unbiased
    /// over the whole range, from a handful of values to billions, with no empirical bias tables and no switch to linear
    /// counting.
    /// </summary>
    internal static double Estimate(ReadOnlySpan<byte> registers)
    {
        Span<int> histogram = stackalloc int[MaxRank + 1];
        foreach (var register in registers)
        {
            histogram[register]++;
        }

        double m = registers.Length;
        var z = m * Tau(1 - (histogram[MaxRank] / m));
        for (var k = MaxRank - 1; k >= 1; k--)
        {
            z = 0.5 * (z + histogram[k]);
        }

        z += m * Sigma(histogram[0] / m);
        return m * m / (2 * Math.Log(2) * z);
    }

    private static double Sigma(double x)
    {
        if (x == 1)
        {
            return double.PositiveInfinity;
        }

        double y = 1, z = x, previous;
        do
        {
            x *= x;
            previous = z;
            z += x * y;
            y += y;
        }
        while (z != previous);
        return z;
    }

    private static double Tau(double x)
    {
        if (x == 0 || x == 1)
        {
            return 0;
        }

        double y = 1, z = 1 - x, previous;
        do
        {
            x = Math.Sqrt(x);
            previous = z;
            y *= 0.5;
            z -= (1 - x) * (1 - x) * y;
        }
        while (z != previous);
        return z / 3;
    }
}
