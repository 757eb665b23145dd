using System.Buffers;
using System.Buffers.Binary;
using OrleansFeatures.Sdk;

namespace FeatureTypeName;

/// <summary>
/// <c>my_feature@1</c>: replace this with what the type computes. As generated it serves the sum of the window's
/// numbers (a tile keeps its sum), which is order-free: any order of events and tiles gives the same value.
/// </summary>
public sealed class FeatureTypeNameFeatureType : FeatureType<FeatureTypeNameFeatureType.Tile>
{
    public override string Name => "my_feature";

    public override int Version => 1;

    public override FeatureValueKind ValueKind => FeatureValueKind.Double;

    public override bool OrderMatters => false;

    public override int MaxStateBytes => sizeof(double);

    public override Tile NewTile() => new();

    public override void Apply(Tile tile, in FeatureValue value, long eventTimeMs) => tile.Sum += value.AsNumber;

    public override void Merge(Tile window, Tile tile) => window.Sum += tile.Sum;

    public override FeatureValue Read(Tile state) => FeatureValue.FromDouble(state.Sum);

    public override void Write(Tile tile, IBufferWriter<byte> output)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(output.GetSpan(sizeof(double)), tile.Sum);
        output.Advance(sizeof(double));
    }

    public override Tile ReadTile(ReadOnlySpan<byte> data, byte format) =>
        format == 1 && data.Length == sizeof(double)
            ? new Tile { Sum = BinaryPrimitives.ReadDoubleLittleEndian(data) }
            : throw new InvalidDataException($"my_feature@1 reads tile format 1 of 8 bytes; got format {format}, {data.Length} bytes");

    /// <summary>What one tile (and a merged window) holds.</summary>
    public sealed class Tile
    {
        public double Sum { get; set; }
    }
}
