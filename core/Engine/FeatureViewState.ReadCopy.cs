using System.Buffers;
using System.Text;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The <b>read copy</b>: the packed form a warm tier keeps of a state that is only read, never applied to again
/// (<see cref="PackedViewReader"/> evaluates features straight from it). It leaves out what a read never needs: the
/// features' names and signatures (the view's <see cref="CompiledFeatureView.Fingerprint"/> stands for them), the
/// de-duplication ids, the horizon and the counters. Layout (little-endian):
/// <code>
/// format(u8 = 0xC7) viewVersion(i32) fingerprint(u64) watermark(i64) accepted(u8: 0 none, then nothing else | 1)
/// featureCount(varint) featureBytes(varint) { list(varint: 0 latest, g + 1 tile list g) [latest: latestTimestamp(i64) value(scalar)] }*
/// listCount(varint) { listBytes(varint) columns(u8) [128: stateFormat(u8)] tileCount(varint) { tiles exactly as in stored format 7 }* }*
/// </code>
/// The byte lengths let a read skip to one feature's entry and list without decoding the others. Read-copy formats
/// number from 0xC0 up (this is 0xC0 + 7, the copy of stored format 7, with last_n's last values and feature types'
/// states; 0xC6 was the copy of stored format 5, without either column, and 5 the copy of #25 without the moments,
/// first and distinct columns either), a
/// range no stored format (4, 5, …, counted up from 1) nor the seen-id segment (0x54) reaches, so neither reader
/// can mistake one for the other.
/// </summary>
public sealed partial class FeatureViewState
{
    /// <summary>
    /// First byte of every read copy: the only read-copy format this version reads or writes; never a stored format's
    /// byte (<see cref="BinaryFormat"/>, <see cref="Format6"/>, <see cref="Format5"/>, <see cref="OldestBinaryFormat"/>) nor <see cref="SeenSegmentFormat"/>.
    /// </summary>
    public const byte ReadCopyFormat = 0xC7;

    /// <summary>Appends this state's read copy (see the type's layout) to <paramref name="output"/>.</summary>
    public void WriteReadCopyTo(IBufferWriter<byte> output)
    {
        var writer = new StateWriter(output);
        writer.Byte(ReadCopyFormat);
        writer.Int32(View.Definition.Version);
        writer.Int64(unchecked((long)View.Fingerprint));
        writer.Int64(Watermark);
        if (AcceptedCount == 0)
        {
            // Every feature reads NotFound: nothing else is needed.
            writer.Byte(0);
            return;
        }

        writer.Byte(1);
        var slots = _layout.Slots;
        var featureBytes = 0;
        for (var i = 0; i < slots.Length; i++)
        {
            featureBytes += slots[i] >= 0 ? VarintSize((uint)slots[i] + 1) : 1 + sizeof(long) + ScalarSize(_latest[~slots[i]].Value);
        }

        writer.VarUInt((uint)slots.Length);
        writer.VarUInt((uint)featureBytes);
        for (var i = 0; i < slots.Length; i++)
        {
            if (slots[i] >= 0)
            {
                writer.VarUInt((uint)slots[i] + 1);
                continue;
            }

            writer.VarUInt(0);
            writer.Int64(_latest[~slots[i]].TimestampMs);
            writer.Scalar(_latest[~slots[i]].Value);
        }

        writer.VarUInt((uint)_tiles.Length);
        for (var g = 0; g < _tiles.Length; g++)
        {
            writer.VarUInt((uint)TilesSize(_layout.Groups[g], _tiles[g]));
            WriteTiles(ref writer, _layout.Groups[g], _tiles[g]);
        }
    }

    /// <summary>The bytes <see cref="WriteTiles"/> writes for <paramref name="list"/>.</summary>
    private static int TilesSize(TileGroupShape shape, TileList list)
    {
        var size = 1 + (shape.Plugin is null ? 0 : 1) + VarintSize((uint)list.Count);

        // The fixed-width numbers: every word after the newest time but the first value's time (a varint).
        var numbers = (shape.Stride - TileGroupShape.NumbersAt - (shape.FirstAt >= 0 ? 1 : 0)) * sizeof(long);
        long previousIndex = 0, previousNewest = 0;
        for (var t = 0; t < list.Count; t++)
        {
            var at = t * shape.Stride;
            var data = list.Data!;
            size += VarintSize(ZigZag(unchecked(data[at + TileGroupShape.IndexAt] - previousIndex)))
                + VarintSize(unchecked((ulong)data[at + TileGroupShape.CountAt]))
                + VarintSize(ZigZag(unchecked(data[at + TileGroupShape.NewestAt] - previousNewest)))
                + numbers;
            if (shape.FirstAt >= 0)
            {
                size += VarintSize(unchecked((ulong)(data[at + TileGroupShape.NewestAt] - data[at + shape.FirstAt]))) + ScalarSize(list.Extras![t].First);
            }

            if (shape.HasDistinctSketch)
            {
                size += list.Extras![t].Distinct!.PackedBytes;
            }

            if (shape.HasLastValues)
            {
                size += LastValuesSize(data[at + TileGroupShape.NewestAt], list.Extras![t].Last);
            }

            if (shape.Plugin is { } plugin)
            {
                var scratch = PluginScratch;
                scratch.ResetWrittenCount();
                plugin.Write(list.Extras![t].Plugin!, scratch);
                size += VarintSize((uint)scratch.WrittenCount) + scratch.WrittenCount;
            }

            previousIndex = data[at + TileGroupShape.IndexAt];
            previousNewest = data[at + TileGroupShape.NewestAt];
        }

        return size;
    }

    private static int LastValuesSize(long newestMs, LastValues? last)
    {
        if (last is null)
        {
            return 1;
        }

        var size = VarintSize((uint)last.Count);
        foreach (var item in last.Items)
        {
            size += VarintSize(unchecked((ulong)(newestMs - item.TimestampMs))) + ScalarSize(item.Value);
        }

        return size;
    }

    private static int ScalarSize(ScalarValue value) => 1 + value.Kind switch
    {
        ScalarKind.Int64 or ScalarKind.Double => sizeof(long),
        ScalarKind.Bool => 1,
        ScalarKind.String => VarintSize((uint)Encoding.UTF8.GetByteCount(value.AsString)) + Encoding.UTF8.GetByteCount(value.AsString),
        _ => 0,
    };

    private static int VarintSize(ulong value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }
}
