using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using OrleansFeatures.Core.Serving;
using OrleansFeatures.V1;
using ColumnEncoding = OrleansFeatures.V1.ColumnEncoding;
using InferenceColumn = OrleansFeatures.V1.InferenceColumn;
using ValueType = OrleansFeatures.V1.ValueType;

namespace OrleansFeatures.Gateway.Services;

/// <summary>
/// An <see cref="InferenceMatrix"/> as an Apache Arrow IPC stream with one record batch: a nullable float32 column
/// per service column (null where the mask is 0), metadata as <c>serving.proto</c>'s <c>arrow_ipc</c> documents it.
/// </summary>
internal static class InferenceArrowWriter
{
    public static byte[] Write(InferenceMatrix matrix, IReadOnlyList<InferenceColumn> columns, string featureService, long registryVersion, long evaluatedAtMs)
    {
        var rows = matrix.Rows;
        var fields = new List<Field>(columns.Count);
        var arrays = new List<IArrowArray>(columns.Count);
        var bitmapBytes = (rows + 7) / 8;
        for (var c = 0; c < columns.Count; c++)
        {
            fields.Add(new Field(columns[c].Name, FloatType.Default, nullable: true, Metadata(columns[c])));

            // Arrow is column-major: each column gets its own value buffer and validity bitmap (bit set = present).
            var values = new byte[rows * sizeof(float)];
            var validity = new byte[bitmapBytes];
            var nulls = 0;
            for (var row = 0; row < rows; row++)
            {
                var cell = (row * matrix.Columns) + c;
                BinaryPrimitives.WriteSingleLittleEndian(values.AsSpan(row * sizeof(float)), matrix[row, c]);
                if (matrix.Mask[cell] != 0)
                {
                    validity[row >> 3] |= (byte)(1 << (row & 7));
                }
                else
                {
                    nulls++;
                }
            }

            arrays.Add(new FloatArray(new ArrowBuffer(values), new ArrowBuffer(validity), rows, nulls, offset: 0));
        }

        var schema = new Schema(fields,
        [
            new("feature_service", featureService),
            new("registry_version", registryVersion.ToString(CultureInfo.InvariantCulture)),
            new("evaluated_at", DateTimeOffset.FromUnixTimeMilliseconds(evaluatedAtMs).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)),
        ]);
        using var batch = new RecordBatch(schema, arrays, rows);
        using var stream = new MemoryStream();
        using (var writer = new ArrowStreamWriter(stream, schema, leaveOpen: true))
        {
            writer.WriteRecordBatch(batch);
            writer.WriteEnd();
        }

        return stream.ToArray();
    }

    private static List<KeyValuePair<string, string>> Metadata(InferenceColumn column)
    {
        var metadata = new List<KeyValuePair<string, string>>(5)
        {
            new("dtype", column.Dtype switch
            {
                ValueType.Int64 => "int64",
                ValueType.Double => "double",
                ValueType.String => "string",
                ValueType.Bool => "bool",
                ValueType.Int64List => "list<int64>",
                ValueType.DoubleList => "list<double>",
                ValueType.StringList => "list<string>",
                ValueType.BoolList => "list<bool>",
                _ => "unspecified",
            }),
            new("encoding", column.Encoding switch
            {
                ColumnEncoding.Bool => "bool",
                ColumnEncoding.Categorical => "categorical",
                ColumnEncoding.Length => "length",
                _ => "number",
            }),
            new("entity_type", column.EntityType),
        };
        if (column.DefaultValue is not null)
        {
            metadata.Add(new("default_value", column.EncodedDefault.ToString("R", CultureInfo.InvariantCulture)));
        }

        if (column.Encoding == ColumnEncoding.Categorical)
        {
            metadata.Add(new("categories", JsonSerializer.Serialize(column.Categories.ToArray())));
        }

        return metadata;
    }
}
