namespace OrleansFeatures.ServiceDefaults;

/// <summary>Tracing settings, bound from <c>FeatureStore:Telemetry</c>.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "FeatureStore:Telemetry";

    /// <summary>Share of new traces recorded (a parent's decision is kept); 1 records every trace.</summary>
    public double TraceSampleRatio { get; set; } = 1.0;
}
