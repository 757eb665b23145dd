using System.Globalization;
using System.Runtime.CompilerServices;
using nietras.SeparatedValues;
using OrleansFeatures.Core.Events;
using Parquet;
using Parquet.Schema;

namespace OrleansFeatures.Offline.Files;

/// <summary>
/// Reads the rows of JSON lines, CSV and Parquet files as scalar fields, streaming (one Parquet row group in memory
/// at a time). <c>declared</c> names the columns the caller gives a type (a source's fields, its time and id fields;
/// an entity table's key and time). JSON lines use the same flat-object reader as pushed and streamed events: a
/// nested object or array is an error in a declared column and skipped in any other (as online, where a source's
/// undeclared fields are ignored), unless <c>skipUndeclaredNested</c> is false. CSV (RFC 4180: quoted commas, quotes and
/// newlines) is read with Sep; a cell is converted only where its column is declared, every other cell is passed
/// through verbatim as text (a key <c>0042</c> stays <c>0042</c>); an empty cell is null. Parquet's top-level scalar
/// columns map integers and timestamps (Unix ms) to int64, floats and decimals to double, strings and booleans to
/// themselves; nested columns follow the JSON rule.
/// </summary>
public static class TableReader
{
    private static readonly Sep Comma = new(',');

    public static async IAsyncEnumerable<TableRow> ReadAsync(
        string path,
        IReadOnlyDictionary<string, ScalarKind>? declared = null,
        bool skipUndeclaredNested = true,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var file in TableFiles.Expand(path))
        {
            var rows = TableFiles.FormatOf(file) switch
            {
                TableFormat.JsonLines => ReadJsonLinesAsync(file, declared, skipUndeclaredNested, cancellationToken),
                TableFormat.Csv => ReadCsvAsync(file, declared, cancellationToken),
                _ => ReadParquetAsync(file, declared, skipUndeclaredNested, cancellationToken),
            };
            await foreach (var row in rows.WithCancellation(cancellationToken))
            {
                yield return row;
            }
        }
    }

    /// <summary>
    /// The columns an event file declares for a source: its fields as typed, plus its time field and an arrival
    /// column as int64 (Unix ms; ISO-8601 text is kept as text for <see cref="EventSchema.TryReadTimestamp"/>) and its
    /// id field as text, where the source does not declare them itself.
    /// </summary>
    public static Dictionary<string, ScalarKind> EventColumns(
        IReadOnlyDictionary<string, ScalarKind> fields, string timestampField, string eventIdField, string? arrivalField = null)
    {
        var columns = new Dictionary<string, ScalarKind>(fields, StringComparer.Ordinal);
        columns.TryAdd(timestampField, ScalarKind.Int64);
        columns.TryAdd(eventIdField, ScalarKind.String);
        if (arrivalField is not null)
        {
            columns.TryAdd(arrivalField, ScalarKind.Int64);
        }

        return columns;
    }

    private static async IAsyncEnumerable<TableRow> ReadJsonLinesAsync(
        string file, IReadOnlyDictionary<string, ScalarKind>? declared, bool skipUndeclaredNested, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Func<string, bool> keeps = declared is null || !skipUndeclaredNested ? static _ => true : declared.ContainsKey;
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
            var raw = JsonEventReader.TryRead(System.Text.Encoding.UTF8.GetBytes(text), keeps, out var error);
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

    private static async IAsyncEnumerable<TableRow> ReadCsvAsync(string file, IReadOnlyDictionary<string, ScalarKind>? declared, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal);
        using var reader = await Comma.Reader(o => o with { Unescape = true, DisableColCountCheck = true })
            .FromFileAsync(file, cancellationToken);
        var columns = reader.Header.ColNames;
        var kinds = new ScalarKind?[columns.Count];
        for (var c = 0; c < columns.Count; c++)
        {
            kinds[c] = declared is not null && declared.TryGetValue(columns[c], out var kind) ? kind : null;
        }

        while (await reader.MoveNextAsync(cancellationToken))
        {
            var line = ReadCsvRow(reader.Current, columns, kinds, fields, out var error);
            if (line > 0)
            {
                yield return new TableRow(fields, file, line, error) { Columns = columns };
            }
        }
    }

    /// <summary>Fills <paramref name="fields"/> from one CSV row; returns its first line, or 0 for a blank line.</summary>
    private static long ReadCsvRow(SepReader.Row row, IReadOnlyList<string> columns, ScalarKind?[] kinds, Dictionary<string, ScalarValue> fields, out string? error)
    {
        error = null;
        fields.Clear();
        if (row.ColCount == 1 && row.Span.IsEmpty && columns.Count != 1)
        {
            return 0;
        }

        if (row.ColCount != columns.Count)
        {
            error = $"row has {row.ColCount} cells; the header has {columns.Count}";
            return row.LineNumberFrom;
        }

        for (var c = 0; c < columns.Count; c++)
        {
            var cell = row[c].ToString();
            if (cell.Length == 0)
            {
                continue;
            }

            if (kinds[c] is not { } kind)
            {
                fields[columns[c]] = ScalarValue.FromString(cell);
            }
            else if (TryParse(cell, kind, out var typed))
            {
                fields[columns[c]] = typed;
            }
            else
            {
                error = $"column '{columns[c]}': '{cell}' is not {EventSchema.KindName(kind)}";
                break;
            }
        }

        return row.LineNumberFrom;
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

    private static async IAsyncEnumerable<TableRow> ReadParquetAsync(
        string file, IReadOnlyDictionary<string, ScalarKind>? declared, bool skipUndeclaredNested, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal);
        await using var stream = File.OpenRead(file);
        await using var reader = await ParquetReader.CreateAsync(stream, cancellationToken: cancellationToken);

        // Only top-level scalar columns are fields. A nested column (struct, list, map, repeated) is skipped where the
        // caller does not declare it, as an undeclared JSON object is; where it does, every row is refused, as a
        // pushed or streamed event with a nested declared field is.
        var dataFields = reader.Schema.Fields.OfType<DataField>().Where(f => !f.IsArray).ToArray();
        string[] names = [.. dataFields.Select(f => f.Name)];
        string? nestedError = null;
        foreach (var field in reader.Schema.Fields)
        {
            if ((field is not DataField || ((DataField)field).IsArray) && (declared is null || !skipUndeclaredNested || declared.ContainsKey(field.Name)))
            {
                nestedError = $"field '{field.Name}' is a nested Parquet column; only strings, numbers, booleans and timestamps are supported";
                break;
            }
        }

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

                yield return new TableRow(fields, file, row, nestedError) { Columns = names };
            }
        }
    }
}
