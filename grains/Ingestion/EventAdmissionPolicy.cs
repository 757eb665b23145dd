using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Grains.Ingestion;

/// <summary>Applies <see cref="EventAdmission"/> with the configured <see cref="EventLimits"/> and the silo's clock.</summary>
public sealed class EventAdmissionPolicy(IOptions<EventLimits> limits, TimeProvider clock)
{
    /// <summary>Why the event may not be applied, or null when it may.</summary>
    public string? Check(FeatureEvent featureEvent, IReadOnlyList<CompiledFeatureView> views, string? fallbackKey = null) =>
        EventAdmission.Check(featureEvent, views, fallbackKey, clock.GetUtcNow().ToUnixTimeMilliseconds(), limits.Value);
}

/// <summary>Fails start-up on an out-of-range limit, naming its configuration key.</summary>
internal sealed class EventLimitsValidator : IValidateOptions<EventLimits>
{
    public ValidateOptionsResult Validate(string? name, EventLimits options) =>
        options.Validate() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
}
