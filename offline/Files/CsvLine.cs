using System.Text;

namespace OrleansFeatures.Offline.Files;

/// <summary>Splits one CSV line (RFC 4180 quoting within the line; quoted newlines are not supported).</summary>
internal static class CsvLine
{
    public static List<string?> Split(string line, out string? error)
    {
        error = null;
        var cells = new List<string?>();
        var cell = new StringBuilder();
        var i = 0;
        while (true)
        {
            cell.Clear();
            if (i < line.Length && line[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= line.Length)
                    {
                        error = "unterminated quoted cell";
                        cells.Add(cell.ToString());
                        return cells;
                    }

                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"')
                        {
                            cell.Append('"');
                            i += 2;
                            continue;
                        }

                        i++;
                        break;
                    }

                    cell.Append(line[i++]);
                }
            }
            else
            {
                while (i < line.Length && line[i] != ',')
                {
                    cell.Append(line[i++]);
                }
            }

            cells.Add(cell.ToString());
            if (i >= line.Length)
            {
                return cells;
            }

            if (line[i] != ',')
            {
                error = $"unexpected '{line[i]}' after a quoted cell";
                return cells;
            }

            i++;
        }
    }
}
