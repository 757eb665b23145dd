using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Offline.Files;

/// <summary>Writes and reads scalars in the offline path's spill files: a kind byte, then the value.</summary>
internal static class ScalarCodec
{
    public static void Write(BinaryWriter writer, ScalarValue value)
    {
        writer.Write((byte)value.Kind);
        switch (value.Kind)
        {
            case ScalarKind.Int64:
                writer.Write(value.AsInt64);
                break;
            case ScalarKind.Double:
                writer.Write(value.AsDouble);
                break;
            case ScalarKind.String:
                writer.Write(value.AsString);
                break;
            case ScalarKind.Bool:
                writer.Write(value.AsBool);
                break;
        }
    }

    public static ScalarValue Read(BinaryReader reader) => (ScalarKind)reader.ReadByte() switch
    {
        ScalarKind.Null => ScalarValue.Null,
        ScalarKind.Int64 => ScalarValue.FromInt64(reader.ReadInt64()),
        ScalarKind.Double => ScalarValue.FromDouble(reader.ReadDouble()),
        ScalarKind.String => ScalarValue.FromString(reader.ReadString()),
        ScalarKind.Bool => ScalarValue.FromBool(reader.ReadBoolean()),
        var kind => throw new InvalidDataException($"spill file holds an unknown value kind {kind}"),
    };
}
