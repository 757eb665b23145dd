using System.Globalization;

namespace OrleansFeatures.Core.Events;

/// <summary>The kind of a scalar carried by an event field or produced by a feature.</summary>
public enum ScalarKind : byte
{
    Null = 0,
    Int64 = 1,
    Double = 2,
    String = 3,
    Bool = 4,

    /// <summary>A list of non-list values (a last_n feature's reading); never an event field.</summary>
    List = 5,
}

/// <summary>
/// A small tagged value: an event field value or a feature value. Event fields are scalars; a feature value may also be
/// a <see cref="ScalarKind.List"/> of scalars (last_n), which holds its items in an array it owns.
/// </summary>
public readonly struct ScalarValue : IEquatable<ScalarValue>
{
    private readonly long _bits;

    // The string of a String value, the ScalarValue[] of a List value.
    private readonly object? _ref;

    private ScalarValue(ScalarKind kind, long bits, object? reference)
    {
        Kind = kind;
        _bits = bits;
        _ref = reference;
    }

    private static readonly ScalarValue[] NoItems = [];

    public ScalarKind Kind { get; }

    public bool IsNull => Kind == ScalarKind.Null;

    public static ScalarValue Null => default;

    public static ScalarValue FromInt64(long value) => new(ScalarKind.Int64, value, null);

    public static ScalarValue FromDouble(double value) => new(ScalarKind.Double, BitConverter.DoubleToInt64Bits(value), null);

    public static ScalarValue FromString(string value) => new(ScalarKind.String, 0, value ?? throw new ArgumentNullException(nameof(value)));

    public static ScalarValue FromBool(bool value) => new(ScalarKind.Bool, value ? 1 : 0, null);

    /// <summary>
    /// A list of the scalars <paramref name="items"/>, which the value takes over: the caller must not change the array
    /// afterwards. A list never holds a list.
    /// </summary>
    public static ScalarValue FromList(ScalarValue[] items)
    {
        ArgumentNullException.ThrowIfNull(items);
        foreach (var item in items)
        {
            if (item.Kind == ScalarKind.List)
            {
                throw new ArgumentException("a list value holds scalars only", nameof(items));
            }
        }

        return new(ScalarKind.List, 0, items.Length == 0 ? NoItems : items);
    }

    public long AsInt64 => Kind == ScalarKind.Int64 ? _bits : throw new InvalidOperationException($"value is {Kind}, not Int64");

    public double AsDouble => Kind == ScalarKind.Double ? BitConverter.Int64BitsToDouble(_bits) : throw new InvalidOperationException($"value is {Kind}, not Double");

    public string AsString => Kind == ScalarKind.String ? (string)_ref! : throw new InvalidOperationException($"value is {Kind}, not String");

    /// <summary>The items of a List value, in order (last_n: newest first).</summary>
    public IReadOnlyList<ScalarValue> AsList => Kind == ScalarKind.List ? (ScalarValue[])_ref! : throw new InvalidOperationException($"value is {Kind}, not List");

    /// <summary>The items of a List value as a span (no enumerator).</summary>
    public ReadOnlySpan<ScalarValue> ListItems => Kind == ScalarKind.List ? (ScalarValue[])_ref! : throw new InvalidOperationException($"value is {Kind}, not List");

    public bool AsBool => Kind == ScalarKind.Bool ? _bits != 0 : throw new InvalidOperationException($"value is {Kind}, not Bool");

    /// <summary>Numeric view of Int64 and Double values, used by sum/mean/min/max.</summary>
    public bool TryGetNumber(out double number)
    {
        switch (Kind)
        {
            case ScalarKind.Int64:
                number = _bits;
                return true;
            case ScalarKind.Double:
                number = BitConverter.Int64BitsToDouble(_bits);
                return true;
            default:
                number = 0;
                return false;
        }
    }

    public bool Equals(ScalarValue other) =>
        Kind == other.Kind && _bits == other._bits && (Kind == ScalarKind.List
            ? ListItems.SequenceEqual(other.ListItems)
            : string.Equals(_ref as string, other._ref as string, StringComparison.Ordinal));

    public override bool Equals(object? obj) => obj is ScalarValue other && Equals(other);

    public override int GetHashCode()
    {
        if (Kind != ScalarKind.List)
        {
            return HashCode.Combine(Kind, _bits, _ref as string);
        }

        var hash = new HashCode();
        hash.Add(Kind);
        foreach (var item in ListItems)
        {
            hash.Add(item);
        }

        return hash.ToHashCode();
    }

    public static bool operator ==(ScalarValue left, ScalarValue right) => left.Equals(right);

    public static bool operator !=(ScalarValue left, ScalarValue right) => !left.Equals(right);

    public override string ToString() => Kind switch
    {
        ScalarKind.Null => "null",
        ScalarKind.Int64 => _bits.ToString(CultureInfo.InvariantCulture),
        ScalarKind.Double => BitConverter.Int64BitsToDouble(_bits).ToString("R", CultureInfo.InvariantCulture),
        ScalarKind.String => (string)_ref!,
        ScalarKind.Bool => _bits != 0 ? "true" : "false",
        ScalarKind.List => ListText(),
        _ => "?",
    };

    // Quotes and backslashes escaped, other text (non-ASCII, HTML characters) as it is: not meant for HTML.
    private static readonly System.Text.Json.JsonSerializerOptions JsonText = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A list as compact JSON (<c>["c9","c4"]</c>): strings quoted and escaped, other items as <see cref="ToString"/> writes them.</summary>
    private string ListText()
    {
        var text = new System.Text.StringBuilder("[");
        var items = ListItems;
        for (var i = 0; i < items.Length; i++)
        {
            if (i > 0) text.Append(',');
            text.Append(items[i].Kind switch
            {
                ScalarKind.String => System.Text.Json.JsonSerializer.Serialize(items[i].AsString, JsonText),
                ScalarKind.Null => "null",
                _ => items[i].ToString(),
            });
        }

        return text.Append(']').ToString();
    }
}
