using System.Globalization;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>Reads a silo's Prometheus text (its <c>/metrics</c> page).</summary>
public static class PrometheusText
{
    /// <summary>
    /// The sum of every sample of metric <paramref name="name"/> (with any labels and suffix such as <c>_total</c>, but
    /// not histogram buckets); 0 when absent.
    /// </summary>
    public static double Sum(string text, string name)
    {
        double sum = 0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is ' ' or '{' or '_'
                && !line.AsSpan(name.Length).StartsWith("_bucket")
                && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                sum += value;
            }
        }

        return sum;
    }
}
