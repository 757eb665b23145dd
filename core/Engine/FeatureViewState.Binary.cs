using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Sdk;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The persisted ("packed") form of a view state: one compact, versioned byte string written straight from the live
/// state. A general-purpose serializer tracks every array of the state as an object and copies it through a snapshot
/// first; entity grains persist after every batch, so this path is hot. Layout (little-endian):
/// <code>
/// format(u8 = 7) viewVersion(i32) watermark dedupHorizon accepted duplicates late (i64 each)
/// openCount(varint) { idHash(u64) timestamp(i64) }*
/// featureCount(varint) { name(str) signature(str) list(varint: 0 latest, g + 1 tile list g) [latest: value(scalar) latestTimestamp(i64)] }*
/// listCount(varint) { columns(u8: 1 sum, 2 min, 4 max, 8 moments, 16 first, 32 distinct, 64 last, 128 feature type)
///                     [128: stateFormat(u8)] tileCount(varint)
///                     { indexDelta(zigzag varint) count(varint) newestDelta(zigzag varint) sum? min? max? (f64)
///                       moments? (mean f64, √M2 f64) first? (newest − firstTime varint, value scalar)
///                       distinct? (sketch) last? (k varint { newest − time varint, value scalar }^k, oldest first)
///                       featureType? (byteLength varint, the type's own bytes) }* }*
/// str = byteLength(varint) UTF-8; scalar = kind(u8) then i64 bits | f64 | u8 | str | nothing (null)
/// sketch = form(u8: 0 exact, 1 registers) then count(varint) hash(u64)* | 4,096 register bytes (<see cref="DistinctSketch"/>)
/// </code>
/// The first byte is the format version; a reader refuses any other (<see cref="InvalidDataException"/> naming both),
/// so a state written by a later layout fails its entity's activation instead of being misread. Format 7 added the
/// column bit 128 (a C# feature type's tiles: the type's state format once per list, its bytes per tile); format 6 is
/// the same layout without it, format 5 without the bit 64 (last_n's last values) too, and format 4 (the previous
/// release) without the bits 8, 16 and 32 (moments, first, distinct) too, so all three still read (and a state
/// carrying a column its format did not have is refused). Nothing older was released, so no older format reads. Only the open ids (accepted since the last seal, see
/// <see cref="OpenSeenCount"/>) are written, as 16-byte hashes with their event times; the sealed ones live in
/// segments (<see cref="EncodeSeenSegment"/>) the caller stores and references itself. Each tile list is written once
/// however many features read it, with only the numbers they read, deltas from the previous tile as varints. A segment
/// is <c>segmentFormat(u8 = 0x54) count(varint) { idHash(u64) timestamp(i64) }*</c>.
/// </summary>
public sealed partial class FeatureViewState
{
    /// <summary>First byte of every packed view state this version writes.</summary>
    public const byte BinaryFormat = 7;

    /// <summary>Format 7 without the feature-type column (128); still read.</summary>
    public const byte Format6 = 6;

    /// <summary>Format 6 without the last values column (64); still read.</summary>
    public const byte Format5 = 5;

    /// <summary>The oldest format still read (the previous release's): format 5 without the moments, first and distinct columns.</summary>
    public const byte OldestBinaryFormat = 4;

    /// <summary>The stored formats this version reads, as error messages list them.</summary>
    public const string ReadableFormats = "4, 5, 6 and 7";

    /// <summary>First byte of every sealed segment of seen ids; distinct from view-state formats so neither misreads as the other.</summary>
    public const byte SeenSegmentFormat = 0x54;

    private const int SeenIdBytes = 2 * sizeof(long);

    /// <summary>Appends this state's persisted form to <paramref name="output"/>.</summary>
    public void WriteTo(IBufferWriter<byte> output)
    {
        var writer = new StateWriter(output);
        writer.Byte(BinaryFormat);
        writer.Int32(View.Definition.Version);
        writer.Int64(Watermark);
        writer.Int64(DedupHorizon);
        writer.Int64(AcceptedCount);
        writer.Int64(DuplicateCount);
        writer.Int64(LateCount);
        DropExpiredOpenIds();
        writer.SeenIds(_seen.Open);

        var features = View.Features;
        writer.VarUInt((uint)features.Count);
        for (var i = 0; i < features.Count; i++)
        {
            writer.String(features[i].Name);
            writer.String(features[i].Signature);
            var slot = _layout.Slots[i];
            if (slot >= 0)
            {
                writer.VarUInt((uint)slot + 1);
                continue;
            }

            writer.VarUInt(0);
            writer.Scalar(_latest[~slot].Value);
            writer.Int64(_latest[~slot].TimestampMs);
        }

        writer.VarUInt((uint)_tiles.Length);
        for (var g = 0; g < _tiles.Length; g++)
        {
            WriteTiles(ref writer, _layout.Groups[g], _tiles[g]);
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
        var open = _seen.Open;
        count = open.Length;
        maxTimestampMs = long.MinValue;
        foreach (var seen in open)
        {
            maxTimestampMs = Math.Max(maxTimestampMs, seen.TimestampMs);
        }

        var buffer = new ArrayBufferWriter<byte>(16 + (count * SeenIdBytes));
        var writer = new StateWriter(buffer);
        writer.Byte(SeenSegmentFormat);
        writer.SeenIds(open);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Marks the first <paramref name="count"/> open ids as sealed (stored in a segment the caller references): they
    /// stay in the de-duplication set, as a run of hashes sorted for search, but <see cref="WriteTo"/> no longer
    /// writes them.
    /// </summary>
    public void SealOpenSeenEvents(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, _seen.OpenCount);
        _sealPending = false;
        _seen.SealFirst(count, LatenessBound);
    }

    /// <summary>The segment of the last <see cref="EncodeSeenSegment"/> was not stored: its ids stay open, and expired ones may be dropped again.</summary>
    public void AbandonSeal() => _sealPending = false;

    /// <summary>Decodes a segment written by <see cref="EncodeSeenSegment"/>; throws <see cref="InvalidDataException"/> if it is not one.</summary>
    public static SeenId[] ReadSeenSegment(ReadOnlySpan<byte> data)
    {
        var reader = new StateReader(data);
        var format = reader.Byte();
        if (format != SeenSegmentFormat)
        {
            throw new InvalidDataException($"seen-id segment has format {format}; this version reads format {SeenSegmentFormat} only");
        }

        var seen = reader.SeenIds();
        reader.End();
        return seen;
    }

    /// <summary>The format version a packed state starts with (its first byte), without checking it.</summary>
    public static int ReadFormat(ReadOnlySpan<byte> data) => data.IsEmpty ? -1 : data[0];

    /// <summary>The view version a persisted state was written for, without decoding the rest; refuses an unknown format.</summary>
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
        var format = reader.Format();
        var viewVersion = reader.Int32();
        var watermark = reader.Int64();
        var dedupHorizon = reader.Int64();
        var accepted = reader.Int64();
        var duplicates = reader.Int64();
        var late = reader.Int64();
        var seen = reader.SeenIds();

        var featureCount = reader.Count(minimumBytesEach: 3);
        var features = new List<FeatureSnapshot>(featureCount);
        var lists = 0;
        for (var i = 0; i < featureCount; i++)
        {
            var name = reader.String();
            var signature = reader.String();
            var list = reader.VarULong();
            if (list > int.MaxValue)
            {
                throw new InvalidDataException($"persisted view state names tile list {list}");
            }

            if (list > 0)
            {
                lists = Math.Max(lists, (int)list);
                features.Add(new FeatureSnapshot { Name = name, Signature = signature, TileGroup = (int)list - 1 });
                continue;
            }

            var latest = reader.Scalar();
            var latestTimestamp = reader.Int64();
            features.Add(new FeatureSnapshot { Name = name, Signature = signature, LatestValue = latest, LatestTimestampMs = latestTimestamp });
        }

        var listCount = reader.Count(minimumBytesEach: 2);
        if (listCount < lists)
        {
            throw new InvalidDataException($"persisted view state has {listCount} tile lists but a feature reads list {lists - 1}");
        }

        var groups = new List<TileGroupSnapshot>(listCount);
        for (var g = 0; g < listCount; g++)
        {
            groups.Add(reader.TileGroup(format));
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
            SeenEvents = [.. seen],
            Features = features,
            TileGroups = groups,
        };
    }

    /// <summary>Restores a state from its packed form alone (<see cref="WriteTo"/>; its ids as open ids).</summary>
    public static FeatureViewState ReadPacked(CompiledFeatureView view, ReadOnlySpan<byte> data, int maxSeenEvents = DefaultMaxSeenEvents) =>
        Restore(view, ReadSnapshot(data), maxSeenEvents);

    private static void WriteTiles(ref StateWriter writer, TileGroupShape shape, TileList list)
    {
        writer.Byte(shape.Columns);
        if (shape.Plugin is { } type)
        {
            writer.Byte(type.StateFormat);
        }

        writer.VarUInt((uint)list.Count);
        long previousIndex = 0, previousNewest = 0;
        var stride = shape.Stride;
        for (var t = 0; t < list.Count; t++)
        {
            var at = t * stride;
            var data = list.Data!;
            writer.VarULong(ZigZag(unchecked(data[at + TileGroupShape.IndexAt] - previousIndex)));
            writer.VarULong(unchecked((ulong)data[at + TileGroupShape.CountAt]));
            writer.VarULong(ZigZag(unchecked(data[at + TileGroupShape.NewestAt] - previousNewest)));
            if (shape.SumAt >= 0) writer.Int64(data[at + shape.SumAt]);
            if (shape.MinAt >= 0) writer.Int64(data[at + shape.MinAt]);
            if (shape.MaxAt >= 0) writer.Int64(data[at + shape.MaxAt]);
            if (shape.MeanAt >= 0)
            {
                writer.Int64(data[at + shape.MeanAt]);
                writer.Int64(data[at + shape.MeanAt + 1]);
            }

            if (shape.FirstAt >= 0)
            {
                writer.VarULong(unchecked((ulong)(data[at + TileGroupShape.NewestAt] - data[at + shape.FirstAt])));
                writer.Scalar(list.Extras![t].First);
            }

            if (shape.HasDistinctSketch)
            {
                writer.Sketch(list.Extras![t].Distinct!);
            }

            if (shape.HasLastValues)
            {
                writer.LastValues(data[at + TileGroupShape.NewestAt], list.Extras![t].Last);
            }

            if (shape.Plugin is { } plugin)
            {
                writer.PluginState(plugin, list.Extras![t].Plugin!);
            }

            previousIndex = data[at + TileGroupShape.IndexAt];
            previousNewest = data[at + TileGroupShape.NewestAt];
        }
    }

    internal static ulong ZigZag(long value) => unchecked((ulong)((value << 1) ^ (value >> 63)));

    internal static long UnZigZag(ulong value) => unchecked((long)(value >> 1) ^ -(long)(value & 1));

    /// <summary>Where a feature type's tile is written before its length is known; one per thread, never shared across a write.</summary>
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _pluginScratch;

    private static ArrayBufferWriter<byte> PluginScratch => _pluginScratch ??= new ArrayBufferWriter<byte>(256);

    internal ref struct StateWriter(IBufferWriter<byte> output)
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

        public readonly void Sketch(DistinctSketch sketch) => sketch.Write(output);

        /// <summary>A tile's last values: their count, then each one's time before the tile's newest and its value, oldest first.</summary>
        public void LastValues(long newestMs, LastValues? last)
        {
            if (last is null)
            {
                VarUInt(0);
                return;
            }

            var items = last.Items;
            VarUInt((uint)items.Length);
            foreach (var item in items)
            {
                VarULong(unchecked((ulong)(newestMs - item.TimestampMs)));
                Scalar(item.Value);
            }
        }

        /// <summary>A feature type's tile: its byte length, then the bytes its <see cref="IFeatureType.Write"/> wrote.</summary>
        public void PluginState(IFeatureType type, object tile)
        {
            var scratch = PluginScratch;
            scratch.ResetWrittenCount();
            type.Write(tile, scratch);
            VarUInt((uint)scratch.WrittenCount);
            Bytes(scratch.WrittenSpan);
        }

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
        internal static int Varint(Span<byte> span, ulong value)
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

        public void SeenIds(ReadOnlySpan<SeenId> ids)
        {
            VarUInt((uint)ids.Length);
            foreach (var id in ids)
            {
                var span = Take(SeenIdBytes);
                BinaryPrimitives.WriteUInt64LittleEndian(span, id.IdHash);
                BinaryPrimitives.WriteInt64LittleEndian(span[sizeof(long)..], id.TimestampMs);
                Advance(SeenIdBytes);
            }
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

    internal ref struct StateReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _position;

        public byte Format()
        {
            var format = Byte();
            if (format is not (BinaryFormat or Format6 or Format5 or OldestBinaryFormat))
            {
                throw new InvalidDataException($"persisted view state has format {format}; this version reads formats {ReadableFormats} only");
            }

            return format;
        }

        public SeenId[] SeenIds()
        {
            var count = Count(minimumBytesEach: SeenIdBytes);
            var seen = new SeenId[count];
            for (var i = 0; i < count; i++)
            {
                var span = Take(SeenIdBytes);
                seen[i] = new SeenId(BinaryPrimitives.ReadUInt64LittleEndian(span), BinaryPrimitives.ReadInt64LittleEndian(span[sizeof(long)..]));
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

        public TileGroupSnapshot TileGroup(byte format)
        {
            var columns = Byte();
            var known = format switch
            {
                OldestBinaryFormat => TileGroupShape.HasSum | TileGroupShape.HasMin | TileGroupShape.HasMax,
                Format5 => TileGroupShape.Format5Columns,
                Format6 => TileGroupShape.Format6Columns,
                _ => TileGroupShape.AllColumns,
            };
            if ((columns & ~known) != 0)
            {
                throw new InvalidDataException($"persisted view state of format {format} has unknown tile fields {columns}");
            }

            var hasPlugin = (columns & TileGroupShape.HasPlugin) != 0;
            var pluginFormat = hasPlugin ? Byte() : (byte)0;

            var tileCount = Count(minimumBytesEach: 3);
            var tiles = new List<Tile>(tileCount);
            long index = 0, newest = 0;
            for (var t = 0; t < tileCount; t++)
            {
                index = unchecked(index + UnZigZag(VarULong()));
                var count = unchecked((long)VarULong());
                newest = unchecked(newest + UnZigZag(VarULong()));
                var tile = new Tile
                {
                    Index = index,
                    Count = count,
                    Sum = (columns & TileGroupShape.HasSum) != 0 ? Double() : 0,
                    Min = (columns & TileGroupShape.HasMin) != 0 ? Double() : 0,
                    Max = (columns & TileGroupShape.HasMax) != 0 ? Double() : 0,
                    MaxTimestampMs = newest,
                };
                if ((columns & TileGroupShape.HasMoments) != 0)
                {
                    tile.Mean = Double();
                    tile.RootM2 = Double();
                }

                if ((columns & TileGroupShape.HasFirst) != 0)
                {
                    tile.FirstTimestampMs = unchecked(newest - (long)VarULong());
                    tile.First = Scalar();
                }

                if ((columns & TileGroupShape.HasDistinct) != 0)
                {
                    tile.Distinct = Sketch();
                }

                if ((columns & TileGroupShape.HasLast) != 0)
                {
                    var last = new TimedValue[Count(minimumBytesEach: 2)];
                    for (var i = 0; i < last.Length; i++)
                    {
                        var time = unchecked(newest - (long)VarULong());
                        last[i] = new TimedValue(Scalar(), time);
                    }

                    tile.Last = last;
                }

                if (hasPlugin)
                {
                    tile.PluginState = PluginBytes().ToArray();
                }

                tiles.Add(tile);
            }

            return new TileGroupSnapshot { Columns = columns, PluginFormat = pluginFormat, Tiles = tiles };
        }

        /// <summary>Skips a distinct sketch written by <see cref="StateWriter.Sketch"/> (its form and length only are checked).</summary>
        public void SkipSketch()
        {
            var form = Byte();
            if (form == DistinctSketch.RegisterForm)
            {
                Skip(DistinctSketch.Registers);
                return;
            }

            if (form != DistinctSketch.ExactForm)
            {
                throw new InvalidDataException($"persisted distinct sketch has unknown form {form}");
            }

            Skip(Count(minimumBytesEach: sizeof(ulong)) * sizeof(ulong));
        }

        /// <summary>Skips a tile's last values written by <see cref="StateWriter.LastValues"/>.</summary>
        public void SkipLastValues()
        {
            var count = Count(minimumBytesEach: 2);
            for (var i = 0; i < count; i++)
            {
                VarULong();
                SkipScalar();
            }
        }

        /// <summary>A feature type's tile bytes written by <see cref="StateWriter.PluginState"/>.</summary>
        public ReadOnlySpan<byte> PluginBytes() => Take(Count(minimumBytesEach: 1));

        /// <summary>A distinct sketch written by <see cref="StateWriter.Sketch"/>.</summary>
        public DistinctSketch Sketch()
        {
            var sketch = DistinctSketch.Read(_data[_position..], out var read);
            _position += read;
            return sketch;
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

        public readonly int Position => _position;

        public readonly int Length => _data.Length;

        /// <summary>Moves on <paramref name="bytes"/> bytes without reading them (refused past the end).</summary>
        public void Skip(int bytes) => Take(bytes);

        /// <summary>Skips a value written by <see cref="StateWriter.Scalar"/>.</summary>
        public void SkipScalar()
        {
            switch ((ScalarKind)Byte())
            {
                case ScalarKind.Null: break;
                case ScalarKind.Int64 or ScalarKind.Double: Skip(sizeof(long)); break;
                case ScalarKind.Bool: Skip(1); break;
                case ScalarKind.String: Skip(Count(minimumBytesEach: 1)); break;
                default: throw new InvalidDataException("persisted view state has an unknown value kind");
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
