using System.Collections.Concurrent;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Offline.PointInTime;

/// <summary>
/// The entity table's pass-through columns in header order (CSV header, Parquet schema; for JSON lines, which have
/// no header, first-seen order), each with one kind for the output: int64 and double mixed become double, any other
/// mix becomes text, a column that is always empty is text.
/// </summary>
internal sealed class LabelColumns
{
    private readonly List<(string Name, ScalarKind Kind)> _columns = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _names = new(StringComparer.Ordinal);

    public IReadOnlyList<(string Name, ScalarKind Kind)> Columns => _columns;

    public int IndexOf(string name) => _index.TryGetValue(name, out var index) ? index : -1;

    /// <summary>One shared string per column name, so label rows held in memory do not each carry a copy.</summary>
    public string Intern(string name) => _names.GetOrAdd(name, name);

    /// <summary>Adds a file's label columns in its header order, before any of its rows is collected.</summary>
    public void Declare(IReadOnlyList<string> header, string keyColumn, string timestampColumn)
    {
        foreach (var name in header)
        {
            if (name != keyColumn && name != timestampColumn && !_index.ContainsKey(name))
            {
                _index.Add(name, _columns.Count);
                _columns.Add((Intern(name), ScalarKind.Null));
            }
        }
    }

    public List<(string Column, ScalarValue Value)> Collect(IReadOnlyDictionary<string, ScalarValue> fields, string keyColumn, string timestampColumn)
    {
        var labels = new List<(string, ScalarValue)>(fields.Count);
        foreach (var (name, value) in fields)
        {
            if (name == keyColumn || name == timestampColumn || value.IsNull)
            {
                continue;
            }

            if (!_index.TryGetValue(name, out var index))
            {
                index = _columns.Count;
                _index.Add(name, index);
                _columns.Add((Intern(name), value.Kind));
            }
            else if (_columns[index].Kind == ScalarKind.Null)
            {
                _columns[index] = (_columns[index].Name, value.Kind);
            }
            else if (_columns[index].Kind != value.Kind && _columns[index].Kind != ScalarKind.String)
            {
                var numeric = value.Kind is ScalarKind.Int64 or ScalarKind.Double && _columns[index].Kind is ScalarKind.Int64 or ScalarKind.Double;
                _columns[index] = (_columns[index].Name, numeric ? ScalarKind.Double : ScalarKind.String);
            }

            labels.Add((_columns[index].Name, value));
        }

        return labels;
    }
}
