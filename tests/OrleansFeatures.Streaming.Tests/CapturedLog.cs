using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace OrleansFeatures.Streaming.Tests;

/// <summary>
/// Keeps the log lines of a test cluster's silos in memory (OrleansFeatures at Debug, the rest from Warning),
/// so a test that fails on a rare interleaving can write out what the silos did instead of only what it saw.
/// </summary>
internal sealed class CapturedLog
{
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly long _started = Environment.TickCount64;

    /// <summary>A provider for one silo: its lines are prefixed with <paramref name="silo"/>.</summary>
    public ILoggerProvider ProviderFor(string silo) => new Provider(this, silo);

    /// <summary>Writes every line, then <paramref name="summary"/>, to a file that outlives the test; returns its path.</summary>
    public string Save(string test, string summary)
    {
        var path = Path.Combine(Path.GetTempPath(), $"orleansfeatures-{test}-{DateTime.UtcNow:yyyyMMddHHmmss}.log");
        File.WriteAllLines(path, [.. _lines, "---", summary]);
        return path;
    }

    private void Add(string silo, string category, LogLevel level, string message, Exception? exception)
    {
        var elapsed = (Environment.TickCount64 - _started) / 1000.0;
        _lines.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{elapsed,8:0.000} {silo} {level} {category}: {message}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}"));
    }

    private sealed class Provider(CapturedLog log, string silo) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(log, silo, categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class Logger(CapturedLog log, string silo, string category) : ILogger
    {
        private readonly LogLevel _minimum = category.StartsWith("OrleansFeatures", StringComparison.Ordinal) ? LogLevel.Debug : LogLevel.Warning;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= _minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                log.Add(silo, category, logLevel, formatter(state, exception), exception);
            }
        }
    }
}
