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
            case ScalarKind.List:
                writer.Write7BitEncodedInt(value.ListItems.Length);
                foreach (var item in value.ListItems)
                {
                    Write(writer, item);
                }

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
        ScalarKind.List => ReadList(reader),
        var kind => throw new InvalidDataException($"spill file holds an unknown value kind {kind}"),
    };

    private static ScalarValue ReadList(BinaryReader reader)
    {
        var items = new ScalarValue[reader.Read7BitEncodedInt()];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = Read(reader);
        }

        return ScalarValue.FromList(items);
    }
}
