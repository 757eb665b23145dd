using System.Diagnostics;
using System.Globalization;

namespace OrleansFeatures.Cli;

/// <summary>
/// Progress of long work on stderr: a bar redrawn in place on a terminal, else a line every five seconds, so a CI
/// log shows the work is alive without a line per batch.
/// </summary>
public sealed class ProgressLine(TextWriter error, string what, bool interactive) : IDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private bool _disposed;
    private TimeSpan? _lastDrawn;
    private bool _drawn;

    /// <summary>Safe from several threads (a training set replays partitions in parallel); ignored once disposed.</summary>
    public void Report(long done, long? total, string? detail = null)
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                Draw(done, total, detail);
            }
        }
    }

    private void Draw(long done, long? total, string? detail)
    {
        var now = _clock.Elapsed;
        var every = interactive ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(5);
        if (_lastDrawn is { } last && now - last < every && !(total is { } t && done >= t))
        {
            return;
        }

        _lastDrawn = now;
        var rate = now.TotalSeconds > 0 ? done / now.TotalSeconds : 0;
        var text = total is { } all && all > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{what} {Bar(done, all)} {done:N0}/{all:N0} ({rate:N0}/s)")
            : string.Create(CultureInfo.InvariantCulture, $"{what} {done:N0} ({rate:N0}/s)");
        if (detail is not null)
        {
            text += " " + detail;
        }

        if (interactive)
        {
            error.Write("\r" + text.PadRight(100));
            _drawn = true;
        }
        else
        {
            error.WriteLine(text);
        }
    }

    private static string Bar(long done, long total)
    {
        const int width = 24;
        var filled = (int)Math.Clamp(done * width / total, 0, width);
        return "[" + new string('#', filled) + new string('.', width - filled) + "]";
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            if (_drawn)
            {
                error.WriteLine();
            }
        }
    }
}
