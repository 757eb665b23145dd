using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Grains.Interfaces;

/// <summary>
/// One entity (a user, a game…) and the online state of every feature view of its type.
/// Key: <c>{entityType}/{entityId}</c>, see <see cref="EntityKey"/>.
/// </summary>
public interface IEntityGrain : IGrainWithStringKey
{
    /// <summary>
    /// Applies events from <paramref name="source"/> to every view of this entity fed by it, and returns only
    /// after the new state is durable. One outcome per event, in order.
    /// </summary>
    /// <param name="registryVersion">The registry version the caller routed with; the grain catches up to it first.</param>
    /// <param name="events">Never modified by anyone: passed by reference within a silo (a copy converted every event's fields).</param>
    Task<EventOutcome[]> ApplyEvents(long registryVersion, string source, [Immutable] FeatureEvent[] events);

    /// <summary>
    /// Applies events like <see cref="ApplyEvents"/> but returns before writing: they are servable at once and made
    /// durable by a later <see cref="Checkpoint"/> (or the grain's deactivation). The receipt names this activation
    /// and its apply sequence, which <see cref="Checkpoint"/> proves durable.
    /// </summary>
    Task<IngestReceipt> Ingest(long registryVersion, string source, [Immutable] FeatureEvent[] events);

    /// <summary>
    /// Makes everything applied up to the receipt's sequence durable: true once it is; false when the receipt's
    /// activation is gone without having written it (those events are lost from memory and must be replayed). A failed
    /// write throws.
    /// </summary>
    Task<bool> Checkpoint(long epoch, long sequence);

    /// <summary>
    /// Reads features; <paramref name="features"/> are <c>view:feature</c> pairs already validated by the caller.
    /// Interleaves with every other call: a lookup never queues behind an apply that is waiting for its state write,
    /// so it may see events applied whose write is still in flight (see <c>docs/architecture.md</c>, "Serving").
    /// </summary>
    [Orleans.Concurrency.AlwaysInterleave]
    Task<FeatureValueDto[]> Read(long registryVersion, FeatureRefList features, long nowMs);
}

/// <summary>Builds and splits entity grain keys.</summary>
public static class EntityKey
{
    public static string Format(string entityType, string entityId) => string.Concat(entityType, "/", entityId);

    public static (string EntityType, string EntityId) Parse(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            throw new ArgumentException($"entity grain key '{key}' is not of the form type/id", nameof(key));
        }

        return (key[..slash], key[(slash + 1)..]);
    }
}

/// <summary>An immutable list of feature references sent with every read (views and features in parallel arrays).</summary>
[GenerateSerializer, Immutable, Alias("of.FeatureRefList")]
public sealed class FeatureRefList(string[] views, string[] features)
{
    [Id(0)] public string[] Views { get; } = views;

    [Id(1)] public string[] Features { get; } = features;

    public int Count => Views.Length;
}

/// <summary>What happened to one event.</summary>
[GenerateSerializer]
public enum EventOutcomeKind
{
    /// <summary>Applied, and durable in grain state.</summary>
    Accepted = 0,

    /// <summary>Its id was applied before; ignored.</summary>
    Duplicate = 1,

    /// <summary>Older than the view's watermark minus its allowed lateness; counted and dropped.</summary>
    Late = 2,

    /// <summary>Invalid (reason given); neighbours are unaffected.</summary>
    Rejected = 3,
}

[GenerateSerializer, Immutable, Alias("of.EventOutcome")]
public readonly record struct EventOutcome([property: Id(0)] EventOutcomeKind Kind, [property: Id(1)] string? Reason)
{
    public static EventOutcome Accepted { get; } = new(EventOutcomeKind.Accepted, null);

    public static EventOutcome Duplicate { get; } = new(EventOutcomeKind.Duplicate, null);
}

/// <summary>The outcome of <see cref="IEntityGrain.Ingest"/>: one outcome per event, and what a checkpoint must prove durable.</summary>
/// <param name="Epoch">Identifies the activation that applied the events (random per activation).</param>
/// <param name="Sequence">The activation's apply count after these events.</param>
[GenerateSerializer, Immutable, Alias("of.IngestReceipt")]
public sealed record IngestReceipt(
    [property: Id(0)] EventOutcome[] Outcomes,
    [property: Id(1)] long Epoch,
    [property: Id(2)] long Sequence);

/// <summary>How a served value came to be.</summary>
[GenerateSerializer]
public enum FeatureStatusKind
{
    Present = 0,
    NotFound = 1,
    Expired = 2,
}

[GenerateSerializer, Immutable, Alias("of.FeatureValue")]
public readonly record struct FeatureValueDto(
    [property: Id(0)] ScalarValue Value,
    [property: Id(1)] FeatureStatusKind Status,
    [property: Id(2)] long EventTimeMs);
