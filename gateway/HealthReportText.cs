using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace OrleansFeatures.Gateway;

/// <summary>A health report as plain text: the overall status, then one line per check with its description.</summary>
public static class HealthReportText
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var lines = new List<string>(report.Entries.Count + 1) { report.Status.ToString() };
        foreach (var (name, entry) in report.Entries)
        {
            lines.Add($"{name}: {entry.Status} {entry.Description}");
        }

        return context.Response.WriteAsync(string.Join('\n', lines) + "\n", context.RequestAborted);
    }
}
