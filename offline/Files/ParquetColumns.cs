using OrleansFeatures.Core.Events;
using Parquet;
using Parquet.Schema;

namespace OrleansFeatures.Offline.Files;

/// <summary>Reads and writes Parquet columns as <see cref="ScalarValue"/>s.</summary>
internal static class ParquetColumns
{
    public static async Task<ScalarValue[]> ReadAsync(ParquetRowGroupReader group, DataField field, int count, CancellationToken cancellationToken)
    {
        var values = new ScalarValue[count];
        var type = field.ClrType;
        if (type == typeof(string) || type == typeof(ReadOnlyMemory<char>))
        {
            var strings = new string?[count];
            await group.ReadAsync(field, strings.AsMemory(), null, cancellationToken);
            for (var i = 0; i < count; i++)
            {
                values[i] = strings[i] is { } text ? ScalarValue.FromString(text) : ScalarValue.Null;
            }
        }
        else if (type == typeof(long))
        {
            await ReadNullableAsync<long>(group, field, values, v => ScalarValue.FromInt64(v), cancellationToken);
        }
        else if (type == typeof(int))
        {
            await ReadNullableAsync<int>(group, field, values, v => ScalarValue.FromInt64(v), cancellationToken);
        }
        else if (type == typeof(short))
        {
            await ReadNullableAsync<short>(group, field, values, v => ScalarValue.FromInt64(v), cancellationToken);
        }
        else if (type == typeof(double))
        {
            await ReadNullableAsync<double>(group, field, values, ScalarValue.FromDouble, cancellationToken);
        }
        else if (type == typeof(float))
        {
            await ReadNullableAsync<float>(group, field, values, v => ScalarValue.FromDouble(v), cancellationToken);
        }
        else if (type == typeof(decimal))
        {
            await ReadNullableAsync<decimal>(group, field, values, v => ScalarValue.FromDouble((double)v), cancellationToken);
        }
        else if (type == typeof(bool))
        {
            await ReadNullableAsync<bool>(group, field, values, ScalarValue.FromBool, cancellationToken);
        }
        else if (type == typeof(DateTime))
        {
            await ReadNullableAsync<DateTime>(
                group,
                field,
                values,
                v => ScalarValue.FromInt64(new DateTimeOffset(DateTime.SpecifyKind(v, DateTimeKind.Utc)).ToUnixTimeMilliseconds()),
                cancellationToken);
        }
        else if (type == typeof(DateTimeOffset))
        {
            await ReadNullableAsync<DateTimeOffset>(group, field, values, v => ScalarValue.FromInt64(v.ToUnixTimeMilliseconds()), cancellationToken);
        }
        else
        {
            throw new InvalidDataException($"column '{field.Name}' has Parquet type {type.Name}, which the offline path does not read");
        }

        return values;
    }

    private static async Task ReadNullableAsync<T>(ParquetRowGroupReader group, DataField field, ScalarValue[] values, Func<T, ScalarValue> convert, CancellationToken cancellationToken)
        where T : struct
    {
        if (field.IsNullable)
        {
            var buffer = new T?[values.Length];
            await group.ReadAsync(field, buffer.AsMemory(), null, cancellationToken);
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = buffer[i] is { } value ? convert(value) : ScalarValue.Null;
            }
        }
        else
        {
            var buffer = new T[values.Length];
            await group.ReadAsync(field, buffer.AsMemory(), null, cancellationToken);
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = convert(buffer[i]);
            }
        }
    }

    /// <summary>
    /// A nullable Parquet field for values of <paramref name="kind"/> (text for an unknown kind). A list (last_n) is a text
    /// column holding the list as JSON, newest first (<c>["c9","c4"]</c>), as <see cref="ScalarValue.ToString"/> writes it.
    /// </summary>
    public static DataField FieldFor(string name, ScalarKind kind) => kind switch
    {
        ScalarKind.Int64 => new DataField<long?>(name),
        ScalarKind.Double => new DataField<double?>(name),
        ScalarKind.Bool => new DataField<bool?>(name),
        _ => new DataField<string>(name, true),
    };

    /// <summary>Writes one column of <paramref name="count"/> values; a value of another kind than the column's is written as null.</summary>
    public static async Task WriteAsync(ParquetRowGroupWriter group, DataField field, ScalarKind kind, ScalarValue[] values, int count, CancellationToken cancellationToken)
    {
        switch (kind)
        {
            case ScalarKind.Int64:
            {
                var column = new long?[count];
                for (var i = 0; i < count; i++)
                {
                    column[i] = values[i].Kind == ScalarKind.Int64 ? values[i].AsInt64 : null;
                }

                await group.WriteAsync<long>(field, column.AsMemory(), null, null, cancellationToken);
                break;
            }

            case ScalarKind.Double:
            {
                var column = new double?[count];
                for (var i = 0; i < count; i++)
                {
                    column[i] = values[i].TryGetNumber(out var number) ? number : null;
                }

                await group.WriteAsync<double>(field, column.AsMemory(), null, null, cancellationToken);
                break;
            }

            case ScalarKind.Bool:
            {
                var column = new bool?[count];
                for (var i = 0; i < count; i++)
                {
                    column[i] = values[i].Kind == ScalarKind.Bool ? values[i].AsBool : null;
                }

                await group.WriteAsync<bool>(field, column.AsMemory(), null, null, cancellationToken);
                break;
            }

            default:
            {
                var column = new string?[count];
                for (var i = 0; i < count; i++)
                {
                    column[i] = values[i].IsNull ? null : values[i].ToString();
                }

                await group.WriteAsync(field, column!, null);
                break;
            }
        }
    }
}
