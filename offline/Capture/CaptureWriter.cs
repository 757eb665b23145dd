using System.Globalization;
using Avro;
using Avro.File;
using Avro.Generic;

namespace OrleansFeatures.Offline.Capture;

/// <summary>One event to write in Capture's format.</summary>
public sealed record CaptureEvent(
    long SequenceNumber,
    DateTimeOffset EnqueuedTime,
    ReadOnlyMemory<byte> Body,
    string? PartitionKey = null,
    IReadOnlyDictionary<string, object?>? Properties = null);

/// <summary>
/// Writes Avro container files in Event Hubs Capture's schema (<see cref="CaptureSchema"/>), as Capture does: the
/// enqueued time as ISO-8601 UTC text to the tick (<c>2026-12-07T19:05:01.1230000Z</c>), the partition key among the
/// system properties. For trying the Capture input (<c>ofs generate --capture</c>), tests and benchmarks.
/// </summary>
public static class CaptureWriter
{
    public const string EnqueuedTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    private static readonly RecordSchema Schema = (RecordSchema)Avro.Schema.Parse(CaptureSchema.Json);

    public static void Write(Stream output, IEnumerable<CaptureEvent> events)
    {
        using var writer = DataFileWriter<GenericRecord>.OpenWriter(new GenericDatumWriter<GenericRecord>(Schema), output, Codec.CreateCodec(Codec.Type.Deflate));
        foreach (var e in events)
        {
            var record = new GenericRecord(Schema);
            record.Add("SequenceNumber", e.SequenceNumber);
            record.Add("Offset", e.SequenceNumber.ToString(CultureInfo.InvariantCulture));
            record.Add("EnqueuedTimeUtc", e.EnqueuedTime.UtcDateTime.ToString(EnqueuedTimeFormat, CultureInfo.InvariantCulture));
            var system = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["x-opt-sequence-number"] = e.SequenceNumber,
                ["x-opt-offset"] = e.SequenceNumber.ToString(CultureInfo.InvariantCulture),
            };
            if (e.PartitionKey is not null)
            {
                system[CaptureSchema.PartitionKeyProperty] = e.PartitionKey;
            }

            record.Add("SystemProperties", system);
            var properties = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (name, value) in e.Properties ?? new Dictionary<string, object?>())
            {
                // The Avro union holds long, double, string, bytes or null: other values as Capture stores them, text.
                properties[name] = value switch
                {
                    null or long or double or string or byte[] => value,
                    int i => (long)i,
                    float f => (double)f,
                    _ => Core.Events.StreamMessage.PropertyText(value),
                };
            }

            record.Add("Properties", properties);
            record.Add("Body", e.Body.ToArray());
            writer.Append(record);
        }
    }

    public static void Write(string file, IEnumerable<CaptureEvent> events)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        using var stream = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Write(stream, events);
    }
}
