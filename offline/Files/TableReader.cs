using System.Globalization;
using System.Runtime.CompilerServices;
using OrleansFeatures.Core.Events;
using Parquet;
using Parquet.Schema;

namespace OrleansFeatures.Offline.Files;

/// <summary>
/// Reads the rows of JSON lines, CSV and Parquet files as scalar fields, streaming (one Parquet row group in memory
/// at a time). JSON lines use the same flat-object reader as pushed and streamed events. CSV cells are typed by
/// <c>kinds</c> when a column is declared there (a source's fields), else read as integer, number, boolean or text,
/// in that order; an empty cell is null. Parquet columns map integers and timestamps (Unix ms) to int64, floats and
/// decimals to double, strings and booleans to themselves.
/// </summary>
public static class TableReader
{
    public static async IAsyncEnumerable<TableRow> ReadAsync(
        string path,
        IReadOnlyDictionary<string, ScalarKind>? kinds = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var file in TableFiles.Expand(path))
        {
            var rows = TableFiles.FormatOf(file) switch
            {
                TableFormat.JsonLines => ReadJsonLinesAsync(file, cancellationToken),
                TableFormat.Csv => ReadCsvAsync(file, kinds, cancellationToken),
                _ => ReadParquetAsync(file, cancellationToken),
            };
            await foreach (var row in rows.WithCancellation(cancellationToken))
            {
                yield return row;
            }
        }
    }

    private static async IAsyncEnumerable<TableRow> ReadJsonLinesAsync(string file, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal);
        using var reader = new StreamReader(file, new FileStreamOptions { BufferSize = 1 << 16, Options = FileOptions.SequentialScan });
        long line = 0;
        while (await reader.ReadLineAsync(cancellationToken) is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            fields.Clear();
            var raw = JsonEventReader.TryRead(System.Text.Encoding.UTF8.GetBytes(text), null, null, out var error);
            if (raw is not null)
            {
                foreach (var (name, value) in raw.Fields)
                {
                    fields[name] = value;
                }
            }

            yield return new TableRow(fields, file, line, error);
        }
    }

    private static async IAsyncEnumerable<TableRow> ReadCsvAsync(string file, IReadOnlyDictionary<string, ScalarKind>? kinds, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal);
        using var reader = new StreamReader(file, new FileStreamOptions { BufferSize = 1 << 16, Options = FileOptions.SequentialScan });
        var header = await reader.ReadLineAsync(cancellationToken);
        if (header is null)
        {
            yield break;
        }

        var columns = CsvLine.Split(header, out _);
        var cells = new List<string?>(columns.Count);
        long line = 1;
        while (await reader.ReadLineAsync(cancellationToken) is { } text)
        {
            line++;
            if (text.Length == 0)
            {
                continue;
            }

            fields.Clear();
            var values = CsvLine.Split(text, out var error);
            if (error is null && values.Count != columns.Count)
            {
                error = $"row has {values.Count} cells; the header has {columns.Count}";
            }

            for (var i = 0; error is null && i < values.Count; i++)
            {
                if (values[i] is not { Length: > 0 } cell)
                {
                    continue;
                }

                var name = columns[i] ?? "";
                if (kinds is not null && kinds.TryGetValue(name, out var kind))
                {
                    if (!TryParse(cell, kind, out var typed))
                    {
                        error = $"column '{name}': '{cell}' is not {EventSchema.KindName(kind)}";
                        break;
                    }

                    fields[name] = typed;
                }
                else
                {
                    fields[name] = Infer(cell);
                }
            }

            yield return new TableRow(fields, file, line, error);
        }
    }

    private static bool TryParse(string cell, ScalarKind kind, out ScalarValue value)
    {
        value = default;
        switch (kind)
        {
            case ScalarKind.Int64 when long.TryParse(cell, NumberStyles.Integer, CultureInfo.InvariantCulture, out var integer):
                value = ScalarValue.FromInt64(integer);
                return true;
            case ScalarKind.Int64:
                // A timestamp column may be declared int64 and written as ISO-8601; EventSchema reads either.
                value = ScalarValue.FromString(cell);
                return true;
            case ScalarKind.Double when double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var number):
                value = ScalarValue.FromDouble(number);
                return true;
            case ScalarKind.Bool when bool.TryParse(cell, out var flag):
                value = ScalarValue.FromBool(flag);
                return true;
            case ScalarKind.String:
                value = ScalarValue.FromString(cell);
                return true;
            default:
                return false;
        }
    }

    private static ScalarValue Infer(string cell) =>
        long.TryParse(cell, NumberStyles.Integer, CultureInfo.InvariantCulture, out var integer) ? ScalarValue.FromInt64(integer)
        : double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? ScalarValue.FromDouble(number)
        : bool.TryParse(cell, out var flag) ? ScalarValue.FromBool(flag)
        : ScalarValue.FromString(cell);

    private static async IAsyncEnumerable<TableRow> ReadParquetAsync(string file, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal);
        await using var stream = File.OpenRead(file);
        await using var reader = await ParquetReader.CreateAsync(stream, cancellationToken: cancellationToken);
        var dataFields = reader.Schema.GetDataFields();
        long row = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            var count = checked((int)group.RowCount);
            var columns = new ScalarValue[dataFields.Length][];
            for (var c = 0; c < dataFields.Length; c++)
            {
                columns[c] = await ParquetColumns.ReadAsync(group, dataFields[c], count, cancellationToken);
            }

            for (var r = 0; r < count; r++)
            {
                row++;
                fields.Clear();
                for (var c = 0; c < dataFields.Length; c++)
                {
                    if (!columns[c][r].IsNull)
                    {
                        fields[dataFields[c].Name] = columns[c][r];
                    }
                }

                yield return new TableRow(fields, file, row, null);
            }
        }
    }
}
