using System.Buffers;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Sdk;

namespace OrleansFeatures.Core.Engine;

/// <summary>Between the store's <see cref="ScalarValue"/> and the SDK's <see cref="FeatureValue"/> (the kinds are numbered alike).</summary>
internal static class FeatureValues
{
    public static FeatureValue ToSdk(in ScalarValue value) => value.Kind switch
    {
        ScalarKind.Int64 => FeatureValue.FromInt64(value.AsInt64),
        ScalarKind.Double => FeatureValue.FromDouble(value.AsDouble),
        ScalarKind.String => FeatureValue.FromString(value.AsString),
        ScalarKind.Bool => FeatureValue.FromBool(value.AsBool),
        _ => FeatureValue.Missing,
    };

    public static ScalarValue ToScalar(in FeatureValue value) => value.Kind switch
    {
        FeatureValueKind.Int64 => ScalarValue.FromInt64(value.AsInt64),
        FeatureValueKind.Double => ScalarValue.FromDouble(value.AsDouble),
        FeatureValueKind.String => ScalarValue.FromString(value.AsString),
        FeatureValueKind.Bool => ScalarValue.FromBool(value.AsBool),
        _ => ScalarValue.Null,
    };

    public static byte[] StateBytes(IFeatureType type, object state)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        type.Write(state, buffer);
        return buffer.WrittenSpan.ToArray();
    }
}
