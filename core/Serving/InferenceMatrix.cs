using System.Buffers.Binary;
using System.Runtime.InteropServices;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Core.Expressions;

namespace OrleansFeatures.Core.Serving;

/// <summary>
/// A model's input for a batch: <see cref="Rows"/> × <see cref="Columns"/> little-endian float32 values, row-major,
/// and a presence mask of the same shape (1 = a value computed from events or sent with the request; 0 = missing or
/// expired, filled with the column's default, or NaN when it has none).
/// </summary>
public sealed class InferenceMatrix
{
    public InferenceMatrix(int rows, int columns)
    {
        Rows = rows;
        Columns = columns;
        Values = new byte[rows * columns * sizeof(float)];
        Mask = new byte[rows * columns];
        DefaultedRows = new int[columns];
    }

    public int Rows { get; }

    public int Columns { get; }

    /// <summary>rows × columns float32, little-endian, row-major.</summary>
    public byte[] Values { get; }

    /// <summary>rows × columns bytes, row-major: 1 present, 0 absent.</summary>
    public byte[] Mask { get; }

    /// <summary>Per column, the rows that got the column's default.</summary>
    public int[] DefaultedRows { get; }

    public float this[int row, int column] => BinaryPrimitives.ReadSingleLittleEndian(Values.AsSpan(((row * Columns) + column) * sizeof(float)));

    public bool IsPresent(int row, int column) => Mask[(row * Columns) + column] != 0;

    /// <summary>
    /// Fills the matrix. For entity slot <c>s</c>, <paramref name="rowEntities"/>[s][row] is the index of the row's
    /// entity among the slot's distinct entities (an array of length 1 applies to every row), and
    /// <paramref name="readings"/>[s] holds those entities' readings, <c>Entities[s].Features.Length</c> per entity.
    /// <paramref name="requestValues"/>[r] holds request field r's value per row (length 1: every row; a null value:
    /// not sent).
    /// </summary>
    public static InferenceMatrix Build(
        InferencePlan plan, int rows, IReadOnlyList<int[]> rowEntities, IReadOnlyList<FeatureReading[]> readings, IReadOnlyList<ScalarValue[]> requestValues)
    {
        var columnCount = plan.Columns.Count;
        var matrix = new InferenceMatrix(rows, columnCount);
        var values = MemoryMarshal.Cast<byte, float>(matrix.Values.AsSpan());
        var littleEndian = BitConverter.IsLittleEndian;
        for (var s = 0; s < plan.Entities.Count; s++)
        {
            var slot = plan.Entities[s];
            var width = slot.Features.Length;
            var entityOfRow = rowEntities[s];
            var slotReadings = readings[s];
            for (var row = 0; row < rows; row++)
            {
                var entity = entityOfRow.Length == 1 ? entityOfRow[0] : entityOfRow[row];
                var first = entity * width;
                for (var f = 0; f < width; f++)
                {
                    var reading = slotReadings[first + f];
                    var column = slot.Columns[f];
                    var cell = (row * columnCount) + column;
                    if (reading.Status == ReadingStatus.Present && !reading.Value.IsNull)
                    {
                        values[cell] = plan.Columns[column].Encode(reading.Value);
                        matrix.Mask[cell] = 1;
                    }
                    else
                    {
                        matrix.Absent(plan.Columns[column], values, cell, column);
                    }
                }
            }
        }

        for (var r = 0; r < plan.RequestFields.Count; r++)
        {
            var field = plan.RequestFields[r];
            var column = plan.Columns[field.Column];
            var sent = requestValues[r];
            for (var row = 0; row < rows; row++)
            {
                var value = sent.Length == 1 ? sent[0] : sent[row];
                var cell = (row * columnCount) + field.Column;
                if (value.IsNull)
                {
                    matrix.Absent(column, values, cell, field.Column);
                }
                else
                {
                    values[cell] = column.Encode(value);
                    matrix.Mask[cell] = 1;
                }
            }
        }

        if (plan.DerivedColumns.Count > 0)
        {
            matrix.Derive(plan, values, rowEntities, readings, requestValues);
        }

        if (!littleEndian)
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReverseEndianness(BitConverter.SingleToInt32Bits(values[i])));
            }
        }

        return matrix;
    }

    /// <summary>
    /// Fills the derived columns, each row from its inputs as served (a feature's reading or a request value, with
    /// the input column's default applied), by <see cref="DerivedColumn.Read"/>: the rule lookups and training sets
    /// use too. A value is present (mask 1); a missing one gets the column's default like any absent value.
    /// </summary>
    private void Derive(
        InferencePlan plan, Span<float> values, IReadOnlyList<int[]> rowEntities, IReadOnlyList<FeatureReading[]> readings, IReadOnlyList<ScalarValue[]> requestValues)
    {
        Span<ExpressionValue> scratch = plan.MaxDerivedInputs <= 64 ? stackalloc ExpressionValue[plan.MaxDerivedInputs] : new ExpressionValue[plan.MaxDerivedInputs];
        foreach (var derived in plan.DerivedColumns)
        {
            var column = plan.Columns[derived.Column];
            var inputs = scratch[..derived.InputSlots.Length];
            for (var row = 0; row < Rows; row++)
            {
                for (var i = 0; i < inputs.Length; i++)
                {
                    var slot = derived.InputSlots[i];
                    FeatureReading reading;
                    if (slot >= 0)
                    {
                        var entityOfRow = rowEntities[slot];
                        var entity = entityOfRow.Length == 1 ? entityOfRow[0] : entityOfRow[row];
                        reading = readings[slot][(entity * plan.Entities[slot].Features.Length) + derived.InputIndexes[i]];
                    }
                    else
                    {
                        var sent = requestValues[derived.InputIndexes[i]];
                        var value = sent.Length == 1 ? sent[0] : sent[row];
                        reading = new FeatureReading(value, value.IsNull ? ReadingStatus.NotFound : ReadingStatus.Present, 0);
                    }

                    inputs[i] = ExpressionValue.From(ServedValue.Serve(reading, derived.InputDefaults[i]));
                }

                var result = derived.Derived.Read(inputs);
                var cell = (row * Columns) + derived.Column;
                if (result.Status == ReadingStatus.Present)
                {
                    values[cell] = column.Encode(result.Value);
                    Mask[cell] = 1;
                }
                else
                {
                    Absent(column, values, cell, derived.Column);
                }
            }
        }
    }

    private void Absent(InferenceColumn column, Span<float> values, int cell, int columnIndex)
    {
        values[cell] = column.DefaultValue;
        if (column.HasDefault)
        {
            DefaultedRows[columnIndex]++;
        }
    }
}
