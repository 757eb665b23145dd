using System.Text.Json;
using System.Text.Unicode;

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
    private static readonly StringPool Names = new(4_096);

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
                    case JsonTokenType.String when sink.Keeps(name, out var pool):
                        sink.Add(name, ScalarValue.FromString(ReadString(ref reader, pool)));
                        break;
                    case JsonTokenType.String:
                        // Not kept (an undeclared field of a source): not made into a string, but text that reading it
                        // would refuse (invalid UTF-8 or escapes) is refused as before.
                        if (reader.HasValueSequence || reader.ValueIsEscaped || !Utf8.IsValid(reader.ValueSpan))
                        {
                            _ = reader.GetString();
                        }

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

        /// <summary>
        /// Whether <see cref="Add"/> keeps the field's value at all (a string of a field it drops is not read), and the
        /// pool its string values are shared from, if any.
        /// </summary>
        bool Keeps(string name, out StringPool? pool);

        void Add(string name, ScalarValue value);
    }

    private readonly struct DictionarySink(Dictionary<string, ScalarValue> fields, Func<string, bool>? declared = null) : IFieldSink
    {
        public Dictionary<string, ScalarValue> Fields => fields;

        // Without a schema every field is kept, so a nested value is an error.
        public bool Reads(string name) => declared is null || declared(name);

        // A table row keeps every scalar field.
        public bool Keeps(string name, out StringPool? pool)
        {
            pool = null;
            return true;
        }

        public void Add(string name, ScalarValue value) => fields[name] = value;
    }

    private static string ReadName(ref Utf8JsonReader reader) => ReadString(ref reader, Names);

    /// <summary>The current name or string token's text: from <paramref name="pool"/> when given and the text is short.</summary>
    private static string ReadString(ref Utf8JsonReader reader, StringPool? pool)
    {
        if (pool is null || reader.HasValueSequence || reader.ValueSpan.Length > StringPool.MaxPooledLength)
        {
            return reader.GetString()!;
        }

        // Unescaped text is never longer than its UTF-8 encoding, so the buffer always fits.
        Span<char> buffer = stackalloc char[StringPool.MaxPooledLength];
        return pool.Get(buffer[..reader.CopyString(buffer)]);
    }
}
