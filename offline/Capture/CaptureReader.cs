using System.Globalization;
using Avro.File;
using Avro.Generic;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Offline.Capture;

/// <summary>
/// Reads Event Hubs Capture's Avro container files (<c>.avro</c>; a file, or every <c>.avro</c> file of a folder in
/// ordinal name order, which is Capture's time order within a partition). Streams one record at a time. An
/// unreadable record yields an error; a file that is not an Avro container fails the read.
/// </summary>
public static class CaptureReader
{
    public const string Extension = ".avro";

    /// <summary>True when <paramref name="path"/> is an Avro file, or a folder whose data files are Avro.</summary>
    public static bool IsCapture(string path) =>
        File.Exists(path) ? string.Equals(Path.GetExtension(path), Extension, StringComparison.OrdinalIgnoreCase)
        : Directory.Exists(path) && Directory.EnumerateFiles(path, "*" + Extension, SearchOption.AllDirectories).Any();

    public static IReadOnlyList<string> Expand(string path)
    {
        if (File.Exists(path))
        {
            return [path];
        }

        if (!Directory.Exists(path))
        {
            throw new FileNotFoundException($"{path}: no such file or folder", path);
        }

        var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var other = files.FirstOrDefault(f => !string.Equals(Path.GetExtension(f), Extension, StringComparison.OrdinalIgnoreCase) && !Path.GetFileName(f).StartsWith('.'));
        if (other is not null)
        {
            throw new InvalidDataException($"{path}: a Capture folder holds only .avro files, and {other} is not one");
        }

        return [.. files.Where(f => string.Equals(Path.GetExtension(f), Extension, StringComparison.OrdinalIgnoreCase))];
    }

    public static IEnumerable<CaptureRecord> Read(string path, CancellationToken cancellationToken = default)
    {
        foreach (var file in Expand(path))
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            using var reader = DataFileReader<GenericRecord>.OpenReader(stream);
            long row = 0;
            while (reader.HasNext())
            {
                cancellationToken.ThrowIfCancellationRequested();
                row++;
                yield return ToRecord(reader.Next(), file, row);
            }
        }
    }

    private static CaptureRecord ToRecord(GenericRecord record, string file, long row)
    {
        var sequence = record.TryGetValue("SequenceNumber", out var s) && s is long number ? number : -1;
        var offset = record.TryGetValue("Offset", out var o) ? o as string : null;
        var system = record.TryGetValue("SystemProperties", out var sp) ? sp as IDictionary<string, object?> : null;
        var properties = record.TryGetValue("Properties", out var p) ? p as IDictionary<string, object?> : null;
        var body = record.TryGetValue("Body", out var b) && b is byte[] bytes ? bytes : [];

        long? enqueued = null;
        string? error = null;
        if (system is not null && system.TryGetValue(CaptureSchema.EnqueuedTimeProperty, out var precise) && ReadTime(precise) is { } preciseMs)
        {
            enqueued = preciseMs;
        }
        else if (record.TryGetValue("EnqueuedTimeUtc", out var text) && ReadTime(text) is { } textMs)
        {
            enqueued = textMs;
        }
        else
        {
            error = "record has no enqueued time (EnqueuedTimeUtc)";
        }

        var partitionKey = system is not null && system.TryGetValue(CaptureSchema.PartitionKeyProperty, out var key) ? StreamMessage.PropertyText(key) : null;
        return new CaptureRecord(
            sequence,
            offset,
            enqueued,
            partitionKey,
            Property(properties, StreamMessage.EventIdField),
            Property(properties, StreamMessage.EventTimeField),
            body,
            file,
            row,
            error);
    }

    private static string? Property(IDictionary<string, object?>? properties, string name) =>
        properties is not null && properties.TryGetValue(name, out var value) ? StreamMessage.PropertyText(value) : null;

    // Capture writes EnqueuedTimeUtc as ISO-8601 UTC text ("2026-12-07T19:05:01.1230000Z"); other invariant-culture
    // date text and Unix ms are read too. Milliseconds are what the live path keeps of EventData.EnqueuedTime.
    private static long? ReadTime(object? value) => value switch
    {
        long ms => ms,
        string text when DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time) => time.ToUnixTimeMilliseconds(),
        _ => null,
    };
}
