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
}

/// <summary>A small tagged scalar: an event field value or a feature value.</summary>
public readonly struct ScalarValue : IEquatable<ScalarValue>
{
    private readonly long _bits;
    private readonly string? _string;

    private ScalarValue(ScalarKind kind, long bits, string? text)
    {
        Kind = kind;
        _bits = bits;
        _string = text;
    }

    public ScalarKind Kind { get; }

    public bool IsNull => Kind == ScalarKind.Null;

    public static ScalarValue Null => default;

    public static ScalarValue FromInt64(long value) => new(ScalarKind.Int64, value, null);

    public static ScalarValue FromDouble(double value) => new(ScalarKind.Double, BitConverter.DoubleToInt64Bits(value), null);

    public static ScalarValue FromString(string value) => new(ScalarKind.String, 0, value ?? throw new ArgumentNullException(nameof(value)));

    public static ScalarValue FromBool(bool value) => new(ScalarKind.Bool, value ? 1 : 0, null);

    public long AsInt64 => Kind == ScalarKind.Int64 ? _bits : throw new InvalidOperationException($"value is {Kind}, not Int64");

    public double AsDouble => Kind == ScalarKind.Double ? BitConverter.Int64BitsToDouble(_bits) : throw new InvalidOperationException($"value is {Kind}, not Double");

    public string AsString => Kind == ScalarKind.String ? _string! : throw new InvalidOperationException($"value is {Kind}, not String");

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

    public bool Equals(ScalarValue other) => Kind == other.Kind && _bits == other._bits && string.Equals(_string, other._string, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is ScalarValue other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Kind, _bits, _string);

    public static bool operator ==(ScalarValue left, ScalarValue right) => left.Equals(right);

    public static bool operator !=(ScalarValue left, ScalarValue right) => !left.Equals(right);

    public override string ToString() => Kind switch
    {
        ScalarKind.Null => "null",
        ScalarKind.Int64 => _bits.ToString(CultureInfo.InvariantCulture),
        ScalarKind.Double => BitConverter.Int64BitsToDouble(_bits).ToString("R", CultureInfo.InvariantCulture),
        ScalarKind.String => _string!,
        ScalarKind.Bool => _bits != 0 ? "true" : "false",
        _ => "?",
    };
}
