using System.Buffers.Binary;
using System.Runtime.InteropServices;
using OrleansFeatures.V1;

namespace OrleansFeatures.Client;

/// <summary>
/// A model's input matrix as the gateway sent it: <see cref="RowCount"/> x <see cref="ColumnCount"/> float32 cells,
/// row-major, read in place from the response (no copy), and a presence mask. A cell whose value was missing or
/// expired holds its column's default, or NaN when it has none, and <see cref="IsPresent"/> is false for it.
/// </summary>
public sealed class InferenceInputs
{
    private readonly ReadOnlyMemory<byte> _values;
    private readonly ReadOnlyMemory<byte> _mask;

    public InferenceInputs(GetInferenceInputsResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        Response = response;
        RowCount = response.RowCount;
        ColumnCount = response.ColumnCount;
        var cells = (long)RowCount * ColumnCount;
        if (RowCount < 0 || ColumnCount < 0 || response.Values.Length != cells * sizeof(float) || response.Mask.Length != cells)
        {
            throw new InvalidDataException(
                $"an inference response of {RowCount} x {ColumnCount} must carry {cells * sizeof(float)} value bytes and {cells} mask bytes, " +
                $"not {response.Values.Length} and {response.Mask.Length}");
        }

        _values = response.Values.Memory;
        _mask = response.Mask.Memory;
    }

    public int RowCount { get; }

    public int ColumnCount { get; }

    /// <summary>One entry per column, in the feature service's order: name, dtype, encoding, categories, default.</summary>
    public IReadOnlyList<InferenceColumn> Columns => Response.Columns;

    /// <summary>The registry version the request was resolved against.</summary>
    public long RegistryVersion => Response.RegistryVersion;

    /// <summary>The generated response, for anything this view does not name.</summary>
    public GetInferenceInputsResponse Response { get; }

    public float this[int row, int column] =>
        BinaryPrimitives.ReadSingleLittleEndian(_values.Span.Slice(Cell(row, column) * sizeof(float), sizeof(float)));

    /// <summary>True when the cell holds a value computed from events or sent with the request; false when defaulted or NaN.</summary>
    public bool IsPresent(int row, int column) => _mask.Span[Cell(row, column)] != 0;

    /// <summary>The index of a column by name (<c>view:feature</c> or a request field), or -1.</summary>
    public int ColumnIndex(string name)
    {
        for (var c = 0; c < Response.Columns.Count; c++)
        {
            if (string.Equals(Response.Columns[c].Name, name, StringComparison.Ordinal))
            {
                return c;
            }
        }

        return -1;
    }

    /// <summary>One row's cells, without copying (the wire format is little-endian, as every supported platform).</summary>
    public ReadOnlySpan<float> Row(int row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, RowCount);
        return BitConverter.IsLittleEndian
            ? MemoryMarshal.Cast<byte, float>(_values.Span.Slice(row * ColumnCount * sizeof(float), ColumnCount * sizeof(float)))
            : CopyRow(row);
    }

    /// <summary>A copy as a rectangular array, for code that wants <c>float[,]</c>.</summary>
    public float[,] ToArray()
    {
        var matrix = new float[RowCount, ColumnCount];
        for (var r = 0; r < RowCount; r++)
        {
            for (var c = 0; c < ColumnCount; c++)
            {
                matrix[r, c] = this[r, c];
            }
        }

        return matrix;
    }

    private float[] CopyRow(int row)
    {
        var copy = new float[ColumnCount];
        for (var c = 0; c < ColumnCount; c++)
        {
            copy[c] = this[row, c];
        }

        return copy;
    }

    private int Cell(int row, int column)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, RowCount);
        ArgumentOutOfRangeException.ThrowIfNegative(column);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(column, ColumnCount);
        return (row * ColumnCount) + column;
    }
}
