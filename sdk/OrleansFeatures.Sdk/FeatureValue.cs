using System.Globalization;

namespace OrleansFeatures.Sdk;

/// <summary>The kind of a <see cref="FeatureValue"/>; numbered as the store's scalar kinds, so the engine converts by a cast.</summary>
public enum FeatureValueKind : byte
{
    /// <summary>No value: as a reading, the feature is served NOT_FOUND (or its default).</summary>
    Missing = 0,
    Int64 = 1,
    Double = 2,
    String = 3,
    Bool = 4,
}

/// <summary>
/// A scalar a feature type receives (an event field's value) or serves (its reading): int64, double, string or bool,
/// or missing. Served values are scalars only: no lists.
/// </summary>
public readonly struct FeatureValue : IEquatable<FeatureValue>
{
    private readonly long _bits;
    private readonly string? _string;

    private FeatureValue(FeatureValueKind kind, long bits, string? text)
    {
        Kind = kind;
        _bits = bits;
        _string = text;
    }

    public FeatureValueKind Kind { get; }

    public bool IsMissing => Kind == FeatureValueKind.Missing;

    public static FeatureValue Missing => default;

    public static FeatureValue FromInt64(long value) => new(FeatureValueKind.Int64, value, null);

    public static FeatureValue FromDouble(double value) => new(FeatureValueKind.Double, BitConverter.DoubleToInt64Bits(value), null);

    public static FeatureValue FromString(string value) => new(FeatureValueKind.String, 0, value ?? throw new ArgumentNullException(nameof(value)));

    public static FeatureValue FromBool(bool value) => new(FeatureValueKind.Bool, value ? 1 : 0, null);

    public long AsInt64 => Kind == FeatureValueKind.Int64 ? _bits : throw new InvalidOperationException($"value is {Kind}, not Int64");

    public double AsDouble => Kind == FeatureValueKind.Double ? BitConverter.Int64BitsToDouble(_bits) : throw new InvalidOperationException($"value is {Kind}, not Double");

    public string AsString => Kind == FeatureValueKind.String ? _string! : throw new InvalidOperationException($"value is {Kind}, not String");

    public bool AsBool => Kind == FeatureValueKind.Bool ? _bits != 0 : throw new InvalidOperationException($"value is {Kind}, not Bool");

    /// <summary>An int64 or a double as a double (a <see cref="FeatureInput.Numbers"/> type's input is always one of the two).</summary>
    public double AsNumber => Kind switch
    {
        FeatureValueKind.Int64 => _bits,
        FeatureValueKind.Double => BitConverter.Int64BitsToDouble(_bits),
        _ => throw new InvalidOperationException($"value is {Kind}, not a number"),
    };

    public bool Equals(FeatureValue other) => Kind == other.Kind && _bits == other._bits && string.Equals(_string, other._string, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is FeatureValue other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Kind, _bits, _string);

    public static bool operator ==(FeatureValue left, FeatureValue right) => left.Equals(right);

    public static bool operator !=(FeatureValue left, FeatureValue right) => !left.Equals(right);

    public override string ToString() => Kind switch
    {
        FeatureValueKind.Missing => "missing",
        FeatureValueKind.Int64 => _bits.ToString(CultureInfo.InvariantCulture),
        FeatureValueKind.Double => BitConverter.Int64BitsToDouble(_bits).ToString("R", CultureInfo.InvariantCulture),
        FeatureValueKind.Bool => _bits != 0 ? "true" : "false",
        _ => _string!,
    };
}
