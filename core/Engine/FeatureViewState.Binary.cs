using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The persisted form of a view state: one compact, versioned byte string written straight from the live state.
/// A general-purpose serializer tracks every string and array of the state as an object and copies it through a
/// snapshot first; entity grains persist after every batch, so this path is hot. Layout (little-endian):
/// <code>
/// format(1) viewVersion(i32) watermark dedupHorizon accepted duplicates late (i64 each)
/// seenCount(varint) { id(str) timestamp(i64) }*
/// featureCount(varint) { name(str) signature(str) latest(scalar) latestTimestamp(i64)
///                        tiles }*
/// tiles (format 3) = stored(u8: 1 sum, 2 min, 4 max) tileCount(varint)
///                    { indexDelta(zigzag varint) count(varint) maxTimestampDelta(zigzag varint) sum? min? max? (f64) }*
/// tiles (formats 1, 2) = tileCount(varint) { index count (i64) sum min max (f64) maxTimestamp(i64) }*
/// str = byteLength(varint) UTF-8; scalar = kind(u8) then i64 bits | f64 | str | nothing (null)
/// </code>
/// Formats 2 and 3 hold only the open ids (accepted since the last seal, see <see cref="OpenSeenCount"/>); the
/// sealed ones live in segments (<see cref="EncodeSeenSegment"/>) the caller stores and references itself. Format
/// 1, which held every id, still reads: its ids come back as open ids. Format 3 stores each tile in ~5 bytes plus
/// only the numbers its feature's aggregation reads (a count reads none, a sum or mean the sum, a min the min, a
/// max the max), deltas from the previous tile as varints; the numbers not stored read back as 0, which is what
/// a count's tiles hold anyway. Formats 1 and 2 spent 48 bytes on every tile, and tiles are kept for the lateness
/// window plus the feature's window, so they were most of a busy entity's write. A segment is
/// <c>segmentFormat(1) count(varint) { id(str) timestamp(i64) }*</c>.
/// </summary>
public sealed partial class FeatureViewState
{
    /// <summary>First byte of every persisted view state written now; a reader accepts this and formats 1 and 2.</summary>
    public const byte BinaryFormat = 3;

    /// <summary>First byte of every sealed segment of seen ids; distinct from view-state formats so neither misreads as the other.</summary>
    public const byte SeenSegmentFormat = 0x53;

    private const byte FirstBinaryFormat = 1;

    private const byte FixedTileFormat = 2;

    private const int TileBytes = 6 * sizeof(long);

    private const int OpenEncodingRetainedBytes = 64 * 1024;

    private const byte StoredSum = 1;
    private const byte StoredMin = 2;
    private const byte StoredMax = 4;

    /// <summary>Appends this state's persisted form to <paramref name="output"/>.</summary>
    public void WriteTo(IBufferWriter<byte> output) => WriteTo(output, BinaryFormat);

    /// <summary>Writes any format this version reads; the older ones only so tests can check they still read.</summary>
    internal void WriteTo(IBufferWriter<byte> output, byte format)
    {
        if (format is < FirstBinaryFormat or > BinaryFormat)
        {
            throw new ArgumentOutOfRangeException(nameof(format), format, $"formats {FirstBinaryFormat} to {BinaryFormat} exist");
        }

        var writer = new StateWriter(output);
        writer.Byte(format);
        writer.Int32(View.Definition.Version);
        writer.Int64(Watermark);
        writer.Int64(DedupHorizon);
        writer.Int64(AcceptedCount);
        writer.Int64(DuplicateCount);
        writer.Int64(LateCount);
        DropExpiredOpenIds();
        if (format == FirstBinaryFormat)
        {
            writer.VarUInt((uint)_seen.Count);
            foreach (var (id, timestamp) in _seen)
            {
                writer.String(id);
                writer.Int64(timestamp);
            }
        }
        else
        {
            WriteOpenSeenEvents(ref writer);
        }

        writer.VarUInt((uint)_features.Length);
        foreach (var feature in _features)
        {
            feature.WriteTo(ref writer, compactTiles: format > FixedTileFormat);
        }
    }

    /// <summary>
    /// Encodes the open ids (those <see cref="WriteTo"/> would write) as a segment, without sealing them: once the
    /// caller has stored the segment durably it calls <see cref="SealOpenSeenEvents"/> with <paramref name="count"/>,
    /// and only then do later writes leave those ids out; if storing fails it calls <see cref="AbandonSeal"/>. Until
    /// one of the two, open ids are only appended (events may be applied while the segment is stored), so the first
    /// <paramref name="count"/> are still the segment's.
    /// </summary>
    /// <param name="count">Open ids in the segment, to pass to <see cref="SealOpenSeenEvents"/>.</param>
    /// <param name="maxTimestampMs">Greatest event time in the segment (<see cref="long.MinValue"/> if empty): once the
    /// lateness bound passes it, no id of the segment is needed any more.</param>
    public byte[] EncodeSeenSegment(out int count, out long maxTimestampMs)
    {
        if (_sealPending)
        {
            throw new InvalidOperationException("a seen-id segment is already being stored; seal or abandon it first");
        }

        DropExpiredOpenIds();
        _sealPending = true;
        count = _open.Count;
        maxTimestampMs = long.MinValue;
        foreach (var seen in _open)
        {
            maxTimestampMs = Math.Max(maxTimestampMs, seen.TimestampMs);
        }

        var buffer = new ArrayBufferWriter<byte>(16 + (count * 32));
        var writer = new StateWriter(buffer);
        writer.Byte(SeenSegmentFormat);
        WriteOpenSeenEvents(ref writer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Marks the first <paramref name="count"/> open ids as sealed (stored in a segment the caller references): they
    /// stay in the de-duplication set but <see cref="WriteTo"/> no longer writes them.
    /// </summary>
    public void SealOpenSeenEvents(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _open.Count);
        _sealPending = false;
        _open.RemoveRange(0, count);
        ForgetEncodedOpenIds();
    }

    /// <summary>The segment of the last <see cref="EncodeSeenSegment"/> was not stored: its ids stay open, and expired ones may be dropped again.</summary>
    public void AbandonSeal() => _sealPending = false;

    /// <summary>Decodes a segment written by <see cref="EncodeSeenSegment"/>; throws <see cref="InvalidDataException"/> if it is not one.</summary>
    public static List<SeenEvent> ReadSeenSegment(ReadOnlySpan<byte> data)
    {
        var reader = new StateReader(data);
        var format = reader.Byte();
        if (format != SeenSegmentFormat)
        {
            throw new InvalidDataException($"seen-id segment has format {format}; this version reads format {SeenSegmentFormat}");
        }

        var seen = reader.SeenEvents();
        reader.End();
        return seen;
    }

    /// <summary>
    /// Writes the open ids. Their encoding is kept between writes and only the ids added since are encoded, so a
    /// busy view that writes after every batch encodes each id once, not once per write until it is sealed (that
    /// re-encoding was the largest single cost of a write). Costs the encoded bytes of the open ids in memory.
    /// </summary>
    private void WriteOpenSeenEvents(ref StateWriter writer)
    {
        var encoding = _openEncoding ??= new ArrayBufferWriter<byte>(256);
        if (_openEncoded < _open.Count)
        {
            var append = new StateWriter(encoding);
            for (var i = _openEncoded; i < _open.Count; i++)
            {
                append.String(_open[i].EventId);
                append.Int64(_open[i].TimestampMs);
            }

            _openEncoded = _open.Count;
        }

        writer.VarUInt((uint)_open.Count);
        writer.Bytes(encoding.WrittenSpan);
    }

    /// <summary>Called whenever open ids are removed: the kept encoding no longer matches them.</summary>
    private void ForgetEncodedOpenIds()
    {
        if (_openEncoding is { } encoding)
        {
            // A rare burst may have grown it; do not keep a large buffer for a view that is quiet again.
            if (encoding.Capacity > OpenEncodingRetainedBytes)
            {
                _openEncoding = null;
            }
            else
            {
                encoding.ResetWrittenCount();
            }
        }

        _openEncoded = 0;
    }

    /// <summary>The view version a persisted state was written for, without decoding the rest.</summary>
    public static int ReadViewVersion(ReadOnlySpan<byte> data)
    {
        var reader = new StateReader(data);
        reader.Format();
        return reader.Int32();
    }

    /// <summary>Decodes a persisted state written by <see cref="WriteTo"/>; throws <see cref="InvalidDataException"/> if it is not one.</summary>
    public static FeatureViewSnapshot ReadSnapshot(ReadOnlySpan<byte> data)
    {
        var reader = new StateReader(data);
        var compactTiles = reader.Format() > FixedTileFormat;
        var viewVersion = reader.Int32();
        var watermark = reader.Int64();
        var dedupHorizon = reader.Int64();
        var accepted = reader.Int64();
        var duplicates = reader.Int64();
        var late = reader.Int64();
        var seen = reader.SeenEvents();

        var featureCount = reader.Count(minimumBytesEach: 12);
        var features = new List<FeatureSnapshot>(featureCount);
        for (var i = 0; i < featureCount; i++)
        {
            var name = reader.String();
            var signature = reader.String();
            var latest = reader.Scalar();
            var latestTimestamp = reader.Int64();
            var tiles = compactTiles ? reader.CompactTiles() : reader.FixedTiles();

            features.Add(new FeatureSnapshot
            {
                Name = name,
                Signature = signature,
                LatestValue = latest,
                LatestTimestampMs = latestTimestamp,
                Tiles = tiles,
            });
        }

        reader.End();
        return new FeatureViewSnapshot
        {
            ViewVersion = viewVersion,
            Watermark = watermark,
            DedupHorizon = dedupHorizon,
            Accepted = accepted,
            Duplicates = duplicates,
            Late = late,
            SeenEvents = seen,
            Features = features,
        };
    }

    private sealed partial class FeatureState
    {
        public void WriteTo(ref StateWriter writer, bool compactTiles)
        {
            writer.String(feature.Name);
            writer.String(feature.Signature);
            writer.Scalar(_latest);
            writer.Int64(_latestTimestamp);
            if (compactTiles)
            {
                WriteCompactTiles(ref writer);
                return;
            }

            writer.VarUInt((uint)_tileCount);
            foreach (var tile in _tiles.AsSpan(0, _tileCount))
            {
                var span = writer.Take(TileBytes);
                BinaryPrimitives.WriteInt64LittleEndian(span, tile.Index);
                BinaryPrimitives.WriteInt64LittleEndian(span[8..], tile.Count);
                BinaryPrimitives.WriteDoubleLittleEndian(span[16..], tile.Sum);
                BinaryPrimitives.WriteDoubleLittleEndian(span[24..], tile.Min);
                BinaryPrimitives.WriteDoubleLittleEndian(span[32..], tile.Max);
                BinaryPrimitives.WriteInt64LittleEndian(span[40..], tile.MaxTimestampMs);
                writer.Advance(TileBytes);
            }
        }

        private void WriteCompactTiles(ref StateWriter writer)
        {
            // Only what Read uses for this aggregation: a count reads Count alone (its Sum, Min and Max are all 0).
            var stored = feature.Aggregation switch
            {
                AggregationKind.Sum or AggregationKind.Mean => StoredSum,
                AggregationKind.Min => StoredMin,
                AggregationKind.Max => StoredMax,
                _ => (byte)0,
            };
            writer.Byte(stored);
            writer.VarUInt((uint)_tileCount);
            long previousIndex = 0, previousMaxTimestamp = 0;
            foreach (var tile in _tiles.AsSpan(0, _tileCount))
            {
                writer.VarULong(ZigZag(unchecked(tile.Index - previousIndex)));
                writer.VarULong(unchecked((ulong)tile.Count));
                writer.VarULong(ZigZag(unchecked(tile.MaxTimestampMs - previousMaxTimestamp)));
                if ((stored & StoredSum) != 0) writer.Int64(BitConverter.DoubleToInt64Bits(tile.Sum));
                if ((stored & StoredMin) != 0) writer.Int64(BitConverter.DoubleToInt64Bits(tile.Min));
                if ((stored & StoredMax) != 0) writer.Int64(BitConverter.DoubleToInt64Bits(tile.Max));
                previousIndex = tile.Index;
                previousMaxTimestamp = tile.MaxTimestampMs;
            }
        }
    }

    private static ulong ZigZag(long value) => unchecked((ulong)((value << 1) ^ (value >> 63)));

    private static long UnZigZag(ulong value) => unchecked((long)(value >> 1) ^ -(long)(value & 1));

    private ref struct StateWriter(IBufferWriter<byte> output)
    {
        public Span<byte> Take(int bytes) => output.GetSpan(bytes);

        public readonly void Advance(int bytes) => output.Advance(bytes);

        public void Byte(byte value)
        {
            Take(1)[0] = value;
            Advance(1);
        }

        public void Int32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(Take(sizeof(int)), value);
            Advance(sizeof(int));
        }

        public void Int64(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(Take(sizeof(long)), value);
            Advance(sizeof(long));
        }

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(Take(bytes.Length));
            Advance(bytes.Length);
        }

        public void VarULong(ulong value) => Advance(Varint(Take(10), value));

        public void VarUInt(uint value) => VarULong(value);

        public void String(string value)
        {
            // Reserve the worst case, write the bytes after a 5-byte length slot, then close the gap.
            var span = Take(5 + Encoding.UTF8.GetMaxByteCount(value.Length));
            var length = Encoding.UTF8.GetBytes(value, span[5..]);
            Span<byte> lengthBytes = stackalloc byte[5];
            var prefix = Varint(lengthBytes, (uint)length);
            span.Slice(5, length).CopyTo(span[prefix..]);
            lengthBytes[..prefix].CopyTo(span);
            Advance(prefix + length);
        }

        /// <summary>Writes <paramref name="value"/> as a little-endian base-128 varint; returns the bytes used.</summary>
        private static int Varint(Span<byte> span, ulong value)
        {
            var length = 0;
            while (value >= 0x80)
            {
                span[length++] = (byte)(value | 0x80);
                value >>= 7;
            }

            span[length++] = (byte)value;
            return length;
        }

        public void Scalar(ScalarValue value)
        {
            Byte((byte)value.Kind);
            switch (value.Kind)
            {
                case ScalarKind.Int64: Int64(value.AsInt64); break;
                case ScalarKind.Double: Int64(BitConverter.DoubleToInt64Bits(value.AsDouble)); break;
                case ScalarKind.Bool: Byte(value.AsBool ? (byte)1 : (byte)0); break;
                case ScalarKind.String: String(value.AsString); break;
            }
        }
    }

    private ref struct StateReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public byte Format()
        {
            var format = Byte();
            if (format is < FirstBinaryFormat or > BinaryFormat)
            {
                throw new InvalidDataException($"persisted view state has format {format}; this version reads formats {FirstBinaryFormat} to {BinaryFormat}");
            }

            return format;
        }

        public List<SeenEvent> SeenEvents()
        {
            var count = Count(minimumBytesEach: 1 + sizeof(long));
            var seen = new List<SeenEvent>(count);
            for (var i = 0; i < count; i++)
            {
                seen.Add(new SeenEvent(String(), Int64()));
            }

            return seen;
        }

        public byte Byte() => Take(1)[0];

        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Take(sizeof(int)));

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Take(sizeof(long)));

        public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(sizeof(double)));

        public ulong VarULong()
        {
            ulong value = 0;
            for (var shift = 0; shift < 70; shift += 7)
            {
                var b = Byte();
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new InvalidDataException("persisted view state has a malformed number");
        }

        public List<Tile> FixedTiles()
        {
            var tileCount = Count(minimumBytesEach: TileBytes);
            var tiles = new List<Tile>(tileCount);
            for (var t = 0; t < tileCount; t++)
            {
                tiles.Add(new Tile
                {
                    Index = Int64(),
                    Count = Int64(),
                    Sum = Double(),
                    Min = Double(),
                    Max = Double(),
                    MaxTimestampMs = Int64(),
                });
            }

            return tiles;
        }

        public List<Tile> CompactTiles()
        {
            var stored = Byte();
            if ((stored & ~(StoredSum | StoredMin | StoredMax)) != 0)
            {
                throw new InvalidDataException($"persisted view state has unknown tile fields {stored}");
            }

            var tileCount = Count(minimumBytesEach: 3);
            var tiles = new List<Tile>(tileCount);
            long index = 0, maxTimestamp = 0;
            for (var t = 0; t < tileCount; t++)
            {
                index = unchecked(index + UnZigZag(VarULong()));
                var count = unchecked((long)VarULong());
                maxTimestamp = unchecked(maxTimestamp + UnZigZag(VarULong()));
                tiles.Add(new Tile
                {
                    Index = index,
                    Count = count,
                    Sum = (stored & StoredSum) != 0 ? Double() : 0,
                    Min = (stored & StoredMin) != 0 ? Double() : 0,
                    Max = (stored & StoredMax) != 0 ? Double() : 0,
                    MaxTimestampMs = maxTimestamp,
                });
            }

            return tiles;
        }

        /// <summary>A count of items, checked against the bytes left so a corrupt count cannot allocate gigabytes.</summary>
        public int Count(int minimumBytesEach)
        {
            var count = VarULong();
            if (count > (ulong)(_data.Length - _position) / (ulong)minimumBytesEach)
            {
                throw new InvalidDataException($"persisted view state claims {count} items in {_data.Length - _position} bytes");
            }

            return (int)count;
        }

        public string String() => Encoding.UTF8.GetString(Take(Count(minimumBytesEach: 1)));

        public ScalarValue Scalar()
        {
            var kind = (ScalarKind)Byte();
            return kind switch
            {
                ScalarKind.Null => ScalarValue.Null,
                ScalarKind.Int64 => ScalarValue.FromInt64(Int64()),
                ScalarKind.Double => ScalarValue.FromDouble(BitConverter.Int64BitsToDouble(Int64())),
                ScalarKind.Bool => ScalarValue.FromBool(Byte() != 0),
                ScalarKind.String => ScalarValue.FromString(String()),
                _ => throw new InvalidDataException($"persisted view state has an unknown value kind {(byte)kind}"),
            };
        }

        public readonly void End()
        {
            if (_position != _data.Length)
            {
                throw new InvalidDataException($"persisted view state has {_data.Length - _position} unread bytes");
            }
        }

        private ReadOnlySpan<byte> Take(int bytes)
        {
            if (bytes > _data.Length - _position)
            {
                throw new InvalidDataException($"persisted view state is truncated at byte {_position} of {_data.Length}");
            }

            var span = _data.Slice(_position, bytes);
            _position += bytes;
            return span;
        }
    }
}
