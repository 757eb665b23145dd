using Microsoft.Extensions.Options;

namespace OrleansFeatures.Grains.Serving;

/// <summary>How lookups read entities (<c>FeatureStore:Serving</c>).</summary>
public sealed class ServingOptions
{
    /// <summary>
    /// Read entities activated on this silo from memory (true, the default), or always through a grain call (false:
    /// the path before the local index, kept to measure the difference; docs/benchmarks.md, "Serving").
    /// </summary>
    public bool LocalReads { get; set; } = true;

    /// <summary>
    /// Bytes, in MiB, this silo keeps of deactivated entities' packed state to serve them without activating them (the
    /// warm tier, <see cref="WarmEntityCache"/>); least recently read entities are evicted beyond it. 0 turns the tier
    /// off. Must be the same on every silo.
    /// </summary>
    public int WarmTierMiB { get; set; } = 256;

    /// <summary>
    /// Entities neither active nor warm in one request are read from storage in one batch, without activating them,
    /// when the grain storage can (<see cref="Storage.IEntityStateBatchReader"/>: SQLite, one silo). False activates
    /// each one through a grain call, as before.
    /// </summary>
    public bool BatchColdReads { get; set; } = true;

    /// <summary>
    /// An entity whose grain call fails with a "try again" cluster failure (its silo died, is stopping or refused the
    /// message) or has not answered within <see cref="DurableFallbackAfter"/> is answered from its durable state, marked
    /// stale (true, the default). False: such a read fails (UNAVAILABLE) or waits, as before.
    /// </summary>
    public bool DurableFallback { get; set; } = true;

    /// <summary>How long a read waits for an entity's grain before it answers from the entity's durable state. Default 1 s.</summary>
    public TimeSpan DurableFallbackAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest accepted <see cref="DurableFallbackAfter"/>.</summary>
    public static readonly TimeSpan MaxDurableFallbackAfter = TimeSpan.FromMinutes(1);

    /// <summary>Largest accepted <see cref="WarmTierMiB"/> (1 TiB).</summary>
    public const int MaxWarmTierMiB = 1 << 20;
}

/// <summary>How long an entity stays activated (<c>FeatureStore:Entities</c>).</summary>
public sealed class EntityLifetimeOptions
{
    /// <summary>
    /// Idle time after which an entity's activation is collected (Orleans' collection age for the entity grain type):
    /// it writes what it applied and, with the warm tier on, stays servable from it. Default 15 minutes.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// <see cref="IdleTimeout"/> must be longer than this: Orleans collects in rounds of its collection quantum (one
    /// minute) and refuses a collection age that is not longer.
    /// </summary>
    public static readonly TimeSpan MinIdleTimeout = TimeSpan.FromMinutes(1);

    /// <summary>Longest accepted <see cref="IdleTimeout"/>.</summary>
    public static readonly TimeSpan MaxIdleTimeout = TimeSpan.FromDays(30);
}

/// <summary>Refuses, at start-up, a serving or entity lifetime setting out of range, naming the setting.</summary>
public sealed class ServingOptionsValidator : IValidateOptions<ServingOptions>, IValidateOptions<EntityLifetimeOptions>
{
    public ValidateOptionsResult Validate(string? name, ServingOptions options)
    {
        if (options.WarmTierMiB is < 0 or > ServingOptions.MaxWarmTierMiB)
        {
            return ValidateOptionsResult.Fail($"FeatureStore:Serving:WarmTierMiB is {options.WarmTierMiB}; it must be between 0 (off) and {ServingOptions.MaxWarmTierMiB}");
        }

        return options.DurableFallbackAfter <= TimeSpan.Zero || options.DurableFallbackAfter > ServingOptions.MaxDurableFallbackAfter
            ? ValidateOptionsResult.Fail($"FeatureStore:Serving:DurableFallbackAfter is {options.DurableFallbackAfter}; it must be positive and at most {ServingOptions.MaxDurableFallbackAfter}")
            : ValidateOptionsResult.Success;
    }

    public ValidateOptionsResult Validate(string? name, EntityLifetimeOptions options) =>
        options.IdleTimeout <= EntityLifetimeOptions.MinIdleTimeout || options.IdleTimeout > EntityLifetimeOptions.MaxIdleTimeout
            ? ValidateOptionsResult.Fail($"FeatureStore:Entities:IdleTimeout is {options.IdleTimeout}; it must be longer than {EntityLifetimeOptions.MinIdleTimeout} (Orleans' collection quantum) and at most {EntityLifetimeOptions.MaxIdleTimeout}")
            : ValidateOptionsResult.Success;
}
