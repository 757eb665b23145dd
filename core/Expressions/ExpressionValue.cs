using System.Runtime.InteropServices;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Expressions;

/// <summary>
/// A value inside a derived column's evaluation: an int64, double or bool, or missing (<see cref="Kind"/> Null, with
/// whether it is missing because an input expired). Unmanaged, so a row's inputs live on the stack.
/// <see cref="EventTimeMs"/> is the event time of a present input (0 otherwise); the column's event time is the
/// newest of its present inputs'.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly record struct ExpressionValue(ScalarKind Kind, long Bits, bool Expired, long EventTimeMs = 0)
{
    public static ExpressionValue NotFound => default;

    public bool IsMissing => Kind == ScalarKind.Null;

    public long AsInt64 => Bits;

    public double AsDouble => Kind == ScalarKind.Int64 ? Bits : BitConverter.Int64BitsToDouble(Bits);

    public bool AsBool => Bits != 0;

    public static ExpressionValue Missing(bool expired) => new(ScalarKind.Null, 0, expired);

    public static ExpressionValue FromInt64(long value) => new(ScalarKind.Int64, value, false);

    /// <summary>A double, or missing when it is NaN or infinite: an expression never yields a non-finite number.</summary>
    public static ExpressionValue FromDouble(double value) =>
        double.IsFinite(value) ? new(ScalarKind.Double, BitConverter.DoubleToInt64Bits(value), false) : NotFound;

    public static ExpressionValue FromBool(bool value) => new(ScalarKind.Bool, value ? 1 : 0, false);

    /// <summary>
    /// An input as the feature service serves it: its value when present or defaulted (a non-finite double is
    /// missing), missing when not found, missing and expired when expired.
    /// </summary>
    public static ExpressionValue From(ServedValue served)
    {
        if (served.Status is ServedStatus.NotFound or ServedStatus.Expired)
        {
            return Missing(served.Status == ServedStatus.Expired);
        }

        var value = From(served.Value);
        return value.IsMissing ? value : value with { EventTimeMs = served.Status == ServedStatus.Present ? served.EventTimeMs : 0 };
    }

    /// <summary>A scalar as an expression value; null, a string or a non-finite double is missing.</summary>
    public static ExpressionValue From(ScalarValue value) => value.Kind switch
    {
        ScalarKind.Int64 => FromInt64(value.AsInt64),
        ScalarKind.Double => FromDouble(value.AsDouble),
        ScalarKind.Bool => FromBool(value.AsBool),
        _ => NotFound,
    };

    /// <summary>This value as <paramref name="type"/> (int64 widens to double); a missing value stays missing.</summary>
    public ExpressionValue As(ScalarKind type) =>
        type == ScalarKind.Double && Kind == ScalarKind.Int64 ? FromDouble(Bits) : this;

    public ScalarValue ToScalar() => Kind switch
    {
        ScalarKind.Int64 => ScalarValue.FromInt64(Bits),
        ScalarKind.Double => ScalarValue.FromDouble(BitConverter.Int64BitsToDouble(Bits)),
        ScalarKind.Bool => ScalarValue.FromBool(Bits != 0),
        _ => ScalarValue.Null,
    };
}
