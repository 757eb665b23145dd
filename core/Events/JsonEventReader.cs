using System.Collections.Concurrent;
using System.Text.Json;

namespace OrleansFeatures.Core.Events;

/// <summary>
/// Reads one event encoded as a flat JSON object (<c>{"user_id":"u1","kind":"click","ts":1700000000000}</c>):
/// strings, numbers (integers become Int64, others Double), booleans and nulls. A nested object or array is
/// an error in a field the reader keeps, and skipped in a field the source does not declare. Other encodings plug in by producing the same <see cref="RawEvent"/>.
/// </summary>
public static class JsonEventReader
{
    // Field names repeat in every event of a source: one shared string per name instead of one per event keeps
    // the events buffered for stream delivery smaller. Bounded, so arbitrary names cannot grow it without limit.
    private const int MaxPooledNames = 4_096;
    private const int MaxPooledNameBytes = 64;
    private static readonly ConcurrentDictionary<string, string> Names = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> NameLookup =
        Names.GetAlternateLookup<ReadOnlySpan<char>>();

    public static RawEvent? TryRead(ReadOnlySpan<byte> utf8Json, string? eventId, long? timestampMs, out string? error)
    {
        // Presized: growing the dictionary field by field was a visible share of stream ingestion CPU.
        var sink = new DictionarySink(new Dictionary<string, ScalarValue>(8, StringComparer.Ordinal));
        return TryReadFields(utf8Json, ref sink, out error) ? new RawEvent(eventId, timestampMs, sink.Fields) : null;
    }

    /// <summary>
    /// Reads a flat JSON object as a table row: every scalar field is kept; a nested object or array is an error in a
    /// field <paramref name="declared"/> accepts and skipped in any other, as a source's undeclared fields are online.
    /// </summary>
    public static RawEvent? TryRead(ReadOnlySpan<byte> utf8Json, Func<string, bool> declared, out string? error)
    {
        var sink = new DictionarySink(new Dictionary<string, ScalarValue>(8, StringComparer.Ordinal), declared);
        return TryReadFields(utf8Json, ref sink, out error) ? new RawEvent(null, null, sink.Fields) : null;
    }

    /// <summary>
    /// Reads the fields of one flat JSON object into <paramref name="sink"/>, in document order; nulls are skipped.
    /// A struct sink is called without boxing, so a caller can place fields where it needs them without a dictionary.
    /// </summary>
    internal static bool TryReadFields<TSink>(ReadOnlySpan<byte> utf8Json, ref TSink sink, out string? error)
        where TSink : struct, IFieldSink
    {
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "event is not a JSON object";
                return false;
            }

            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var name = ReadName(ref reader);
                reader.Read();
                switch (reader.TokenType)
                {
                    case JsonTokenType.String:
                        sink.Add(name, ScalarValue.FromString(reader.GetString()!));
                        break;
                    case JsonTokenType.Number when reader.TryGetInt64(out var integer):
                        sink.Add(name, ScalarValue.FromInt64(integer));
                        break;
                    case JsonTokenType.Number:
                        sink.Add(name, ScalarValue.FromDouble(reader.GetDouble()));
                        break;
                    case JsonTokenType.True:
                    case JsonTokenType.False:
                        sink.Add(name, ScalarValue.FromBool(reader.GetBoolean()));
                        break;
                    case JsonTokenType.Null:
                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray when !sink.Reads(name):
                        // A field the source does not declare is ignored whatever its JSON type, like any other
                        // undeclared field; only a declared field must be a scalar.
                        reader.Skip();
                        break;
                    default:
                        error = $"field '{name}' is a JSON {reader.TokenType}; only strings, numbers, booleans and null are supported";
                        return false;
                }
            }

            // Reading past the object throws for trailing content, which the catch below reports.
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                error = "event is not valid JSON: the object is not closed";
                return false;
            }
        }
        catch (JsonException exception)
        {
            error = $"event is not valid JSON: {exception.Message}";
            return false;
        }

        error = null;
        return true;
    }

    /// <summary>Receives the fields <see cref="TryReadFields"/> reads.</summary>
    internal interface IFieldSink
    {
        /// <summary>Whether the field is kept (declared, or the event's id or time); undeclared nested values are skipped.</summary>
        bool Reads(string name);

        void Add(string name, ScalarValue value);
    }

    private readonly struct DictionarySink(Dictionary<string, ScalarValue> fields, Func<string, bool>? declared = null) : IFieldSink
    {
        public Dictionary<string, ScalarValue> Fields => fields;

        // Without a schema every field is kept, so a nested value is an error.
        public bool Reads(string name) => declared is null || declared(name);

        public void Add(string name, ScalarValue value) => fields[name] = value;
    }

    private static string ReadName(ref Utf8JsonReader reader)
    {
        if (reader.HasValueSequence || reader.ValueSpan.Length > MaxPooledNameBytes)
        {
            return reader.GetString()!;
        }

        // Unescaped text is never longer than its UTF-8 encoding, so the buffer always fits.
        Span<char> buffer = stackalloc char[MaxPooledNameBytes];
        var chars = buffer[..reader.CopyString(buffer)];
        if (NameLookup.TryGetValue(chars, out var pooled))
        {
            return pooled;
        }

        var name = new string(chars);
        if (Names.Count < MaxPooledNames)
        {
            Names.TryAdd(name, name);
        }

        return name;
    }
}
