using System.Globalization;

namespace OrleansFeatures.Core.Events;

/// <summary>
/// Limits every event must meet before it reaches an entity, whatever its entrance (push, Kafka, the demo); bound
/// from <c>FeatureStore:Limits</c>. <see cref="MaxKeyLength"/> also bounds the entity ids a lookup accepts, so
/// nothing is stored that cannot be read back.
/// </summary>
public sealed class EventLimits
{
    public const string Section = "FeatureStore:Limits";

    /// <summary>The key and id limit lookups had before it was shared with ingestion.</summary>
    public const int DefaultMaxKeyLength = 256;

    public const int DefaultMaxStringFieldLength = 4_096;

    /// <summary>
    /// The largest magnitude a number in an event may have. A window holds at most 2^63 events, so sums of numbers this
    /// size stay far below <see cref="double.MaxValue"/>: no sum or mean is ever infinite. Beyond it an event is
    /// refused, not clamped; the engine also ignores such a number (as it ignores a text value) if one reaches it.
    /// </summary>
    public const double MaxNumberMagnitude = 1e250;

    /// <summary>How far past the server's clock an event time may lie; later events are rejected.</summary>
    public TimeSpan MaxFutureSkew { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most characters in an entity key (event field or lookup id) and in an event id.</summary>
    public int MaxKeyLength { get; set; } = DefaultMaxKeyLength;

    /// <summary>Most characters in a string field value of an event (key fields have the tighter <see cref="MaxKeyLength"/>).</summary>
    public int MaxStringFieldLength { get; set; } = DefaultMaxStringFieldLength;

    /// <summary>Every setting out of range, each naming its configuration key; empty when all are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (MaxFutureSkew < TimeSpan.Zero || MaxFutureSkew > TimeSpan.FromDays(3650))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{Section}:MaxFutureSkew must be between 00:00:00 and 3650.00:00:00, was {MaxFutureSkew}"));
        }

        if (MaxKeyLength is < 1 or > 4_096)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{Section}:MaxKeyLength must be between 1 and 4096, was {MaxKeyLength}"));
        }

        if (MaxStringFieldLength is < 1 or > 1_048_576)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{Section}:MaxStringFieldLength must be between 1 and 1048576, was {MaxStringFieldLength}"));
        }

        return problems;
    }
}
