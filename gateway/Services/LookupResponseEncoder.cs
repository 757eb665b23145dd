using System.Buffers;
using System.Numerics;
using System.Text;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.V1;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// Writes a <see cref="GetOnlineFeaturesResponse"/> in protobuf's wire format straight from the readings: byte for
/// byte what the generated message would serialize (same fields, same order, the same empty <c>Value</c> for a
/// missing value), without a <c>FeatureValue</c>, <c>Value</c>, boxed scalar and <c>Timestamp</c> per value.
/// The values are mapped by core's <see cref="ServedValue"/>, the rule the message path uses too.
/// </summary>
internal static class LookupResponseEncoder
{
    // Tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
    private const byte NamesTag = (1 << 3) | 2;
    private const byte EntitiesTag = (2 << 3) | 2;
    private const byte VersionTag = 3 << 3;
    private const byte EvaluatedAtTag = (4 << 3) | 2;
    private const byte EntityIdTag = (1 << 3) | 2;
    private const byte ValuesTag = (2 << 3) | 2;
    private const byte ValueTag = (1 << 3) | 2;
    private const byte StatusTag = 2 << 3;
    private const byte EventTimeTag = (3 << 3) | 2;
    private const byte StaleTag = 3 << 3;
    private const byte Int64Tag = 1 << 3;
    private const byte DoubleTag = (2 << 3) | 1;
    private const byte StringTag = (3 << 3) | 2;
    private const byte BoolTag = 4 << 3;
    private const byte ListTag = (5 << 3) | 2;
    private const byte ListItemTag = (1 << 3) | 2;
    private const byte SecondsTag = 1 << 3;
    private const byte NanosTag = 2 << 3;

    /// <summary>
    /// Encodes the answer into a buffer rented from <see cref="ArrayPool{T}.Shared"/> and attaches it to an otherwise
    /// empty response, which the service's response marshaller writes (and returns the buffer).
    /// </summary>
    /// <param name="stale">Per id, whether it was answered from durable state (<c>EntityFeatures.stale</c>); null when none was.</param>
    public static GetOnlineFeaturesResponse Encode(
        string[] names, ScalarValue?[] defaults, IReadOnlyList<string> ids, ReadOnlySpan<FeatureReading> readings, bool[]? stale, long registryVersion, long nowMs)
    {
        var length = Measure(names, defaults, ids, readings, stale, registryVersion, nowMs);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var written = Write(buffer, names, defaults, ids, readings, stale, registryVersion, nowMs);
        if (written != length)
        {
            throw new InvalidOperationException($"encoded {written} bytes of a {length}-byte lookup answer");
        }

        var response = new GetOnlineFeaturesResponse();
        response.AttachEncoded(buffer, length);
        return response;
    }

    /// <summary>The encoded size of the answer.</summary>
    public static int Measure(string[] names, ScalarValue?[] defaults, IReadOnlyList<string> ids, ReadOnlySpan<FeatureReading> readings, bool[]? stale, long registryVersion, long nowMs)
    {
        var size = 0;
        foreach (var name in names)
        {
            size += Delimited(Encoding.UTF8.GetByteCount(name));
        }

        var width = names.Length;
        for (var i = 0; i < ids.Count; i++)
        {
            size += Delimited(EntitySize(ids[i], readings.Slice(i * width, width), defaults, stale is not null && stale[i]));
        }

        size += registryVersion != 0 ? 1 + VarintSize((ulong)registryVersion) : 0;
        ValueMapping.SplitUnixMs(nowMs, out var seconds, out var nanos);
        return size + Delimited(TimestampSize(seconds, nanos));
    }

    /// <summary>Writes the answer into <paramref name="into"/> (at least <see cref="Measure"/> bytes); returns the bytes written.</summary>
    public static int Write(Span<byte> into, string[] names, ScalarValue?[] defaults, IReadOnlyList<string> ids, ReadOnlySpan<FeatureReading> readings, bool[]? stale, long registryVersion, long nowMs)
    {
        var writer = new WireWriter(into);
        foreach (var name in names)
        {
            writer.Byte(NamesTag);
            writer.String(name);
        }

        var width = names.Length;
        for (var i = 0; i < ids.Count; i++)
        {
            var values = readings.Slice(i * width, width);
            var isStale = stale is not null && stale[i];
            writer.Byte(EntitiesTag);
            writer.Varint((ulong)EntitySize(ids[i], values, defaults, isStale));
            if (ids[i].Length > 0)
            {
                writer.Byte(EntityIdTag);
                writer.String(ids[i]);
            }

            for (var f = 0; f < values.Length; f++)
            {
                var served = ServedValue.Serve(values[f], defaults[f]);
                writer.Byte(ValuesTag);
                writer.Varint((ulong)FeatureValueSize(served));
                WriteFeatureValue(ref writer, served);
            }

            if (isStale)
            {
                writer.Byte(StaleTag);
                writer.Byte(1);
            }
        }

        if (registryVersion != 0)
        {
            writer.Byte(VersionTag);
            writer.Varint((ulong)registryVersion);
        }

        ValueMapping.SplitUnixMs(nowMs, out var seconds, out var nanos);
        writer.Byte(EvaluatedAtTag);
        writer.Varint((ulong)TimestampSize(seconds, nanos));
        WriteTimestamp(ref writer, seconds, nanos);
        return writer.Position;
    }

    private static int EntitySize(string id, ReadOnlySpan<FeatureReading> values, ScalarValue?[] defaults, bool stale)
    {
        var size = (id.Length > 0 ? Delimited(Encoding.UTF8.GetByteCount(id)) : 0) + (stale ? 2 : 0);
        for (var f = 0; f < values.Length; f++)
        {
            size += Delimited(FeatureValueSize(ServedValue.Serve(values[f], defaults[f])));
        }

        return size;
    }

    // FeatureValue: value (always set: an empty Value when there is none), status, event_time (only when present).
    private static int FeatureValueSize(ServedValue served)
    {
        var size = Delimited(HasValue(served) ? ValueSize(served.Value) : 0);
        var status = (ulong)Status(served.Status);
        size += status != 0 ? 1 + VarintSize(status) : 0;
        if (served.EventTimeMs > 0)
        {
            ValueMapping.SplitUnixMs(served.EventTimeMs, out var seconds, out var nanos);
            size += Delimited(TimestampSize(seconds, nanos));
        }

        return size;
    }

    private static void WriteFeatureValue(ref WireWriter writer, ServedValue served)
    {
        writer.Byte(ValueTag);
        if (HasValue(served))
        {
            writer.Varint((ulong)ValueSize(served.Value));
            WriteValue(ref writer, served.Value);
        }
        else
        {
            writer.Byte(0);
        }

        var status = (ulong)Status(served.Status);
        if (status != 0)
        {
            writer.Byte(StatusTag);
            writer.Varint(status);
        }

        if (served.EventTimeMs > 0)
        {
            ValueMapping.SplitUnixMs(served.EventTimeMs, out var seconds, out var nanos);
            writer.Byte(EventTimeTag);
            writer.Varint((ulong)TimestampSize(seconds, nanos));
            WriteTimestamp(ref writer, seconds, nanos);
        }
    }

    private static bool HasValue(ServedValue served) => served.Status is ServedStatus.Present or ServedStatus.Defaulted;

    private static FeatureStatus Status(ServedStatus status) => status switch
    {
        ServedStatus.Present => FeatureStatus.Present,
        ServedStatus.Defaulted => FeatureStatus.Defaulted,
        ServedStatus.Expired => FeatureStatus.Expired,
        _ => FeatureStatus.NotFound,
    };

    // Value: a oneof, so its one set field is written even when it is zero, false or empty.
    private static int ValueSize(ScalarValue value) => value.Kind switch
    {
        ScalarKind.Int64 => 1 + VarintSize((ulong)value.AsInt64),
        ScalarKind.Double => 1 + sizeof(double),
        ScalarKind.String => Delimited(Encoding.UTF8.GetByteCount(value.AsString)),
        ScalarKind.Bool => 2,
        ScalarKind.List => Delimited(ListSize(value)),
        _ => 0,
    };

    // ValueList: each item a Value, written even when empty (a null item; last_n never serves one).
    private static int ListSize(ScalarValue list)
    {
        var size = 0;
        foreach (var item in list.ListItems)
        {
            size += Delimited(ValueSize(item));
        }

        return size;
    }

    private static void WriteValue(ref WireWriter writer, ScalarValue value)
    {
        switch (value.Kind)
        {
            case ScalarKind.List:
                writer.Byte(ListTag);
                writer.Varint((ulong)ListSize(value));
                foreach (var item in value.ListItems)
                {
                    writer.Byte(ListItemTag);
                    writer.Varint((ulong)ValueSize(item));
                    WriteValue(ref writer, item);
                }

                break;
            case ScalarKind.Int64:
                writer.Byte(Int64Tag);
                writer.Varint((ulong)value.AsInt64);
                break;
            case ScalarKind.Double:
                writer.Byte(DoubleTag);
                writer.Fixed64(BitConverter.DoubleToInt64Bits(value.AsDouble));
                break;
            case ScalarKind.String:
                writer.Byte(StringTag);
                writer.String(value.AsString);
                break;
            case ScalarKind.Bool:
                writer.Byte(BoolTag);
                writer.Byte(value.AsBool ? (byte)1 : (byte)0);
                break;
        }
    }

    // Timestamp: seconds and nanos, each only when not zero (nanos are never negative here).
    private static int TimestampSize(long seconds, int nanos) =>
        (seconds != 0 ? 1 + VarintSize((ulong)seconds) : 0) + (nanos != 0 ? 1 + VarintSize((ulong)nanos) : 0);

    private static void WriteTimestamp(ref WireWriter writer, long seconds, int nanos)
    {
        if (seconds != 0)
        {
            writer.Byte(SecondsTag);
            writer.Varint((ulong)seconds);
        }

        if (nanos != 0)
        {
            writer.Byte(NanosTag);
            writer.Varint((ulong)nanos);
        }
    }

    /// <summary>A length-delimited field of <paramref name="length"/> bytes: its tag, its length and its bytes.</summary>
    private static int Delimited(int length) => 1 + VarintSize((ulong)length) + length;

    private static int VarintSize(ulong value) => (BitOperations.Log2(value | 1) / 7) + 1;

    private ref struct WireWriter(Span<byte> into)
    {
        private readonly Span<byte> _into = into;

        public int Position { get; private set; }

        public void Byte(byte value) => _into[Position++] = value;

        public void Varint(ulong value)
        {
            while (value >= 0x80)
            {
                _into[Position++] = (byte)(value | 0x80);
                value >>= 7;
            }

            _into[Position++] = (byte)value;
        }

        public void Fixed64(long value)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(_into[Position..], value);
            Position += sizeof(long);
        }

        public void String(string value)
        {
            var length = Encoding.UTF8.GetByteCount(value);
            Varint((ulong)length);
            Position += Encoding.UTF8.GetBytes(value, _into[Position..]);
        }
    }
}
