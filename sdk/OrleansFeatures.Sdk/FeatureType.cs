using System.Buffers;

namespace OrleansFeatures.Sdk;

/// <summary>Which events of its view a feature type's tiles receive.</summary>
public enum FeatureInput : byte
{
    /// <summary>Events whose field is a finite number (int64 or double): the field must be numeric.</summary>
    Numbers = 0,

    /// <summary>Events whose field has any non-null value (a string, a number, a bool).</summary>
    Values = 1,
}

/// <summary>
/// What the engine calls on a feature type: the non-generic face of <see cref="FeatureType{TTile}"/>. Implement
/// <see cref="FeatureType{TTile}"/> rather than this. The engine keeps windows, TTL, lateness and de-duplication; a
/// feature type only says what a tile holds, how an event's value enters it, how tiles combine and what a window of
/// tiles reads. See <c>docs/feature-types.md</c>.
/// </summary>
public interface IFeatureType
{
    /// <summary>The name definitions use before <c>@</c>: lower-case letters, digits and <c>_</c>, starting with a letter.</summary>
    string Name { get; }

    /// <summary>The version definitions use after <c>@</c> (≥ 1): a change of what the type computes is a new version.</summary>
    int Version { get; }

    /// <summary>The kind every present reading has: int64, double, string or bool.</summary>
    FeatureValueKind ValueKind { get; }

    /// <summary>Which events reach <see cref="Apply"/>.</summary>
    FeatureInput Input { get; }

    /// <summary>
    /// False when a reading depends only on the set of (value, event time) of the window's events, so tiles merge in any
    /// order and applying events in any order gives the same tile; true when it depends on their order in event time
    /// (ties: the order applied). The engine always merges tiles in time order; the conformance kit checks the promise.
    /// </summary>
    bool OrderMatters { get; }

    /// <summary>The format of the bytes <see cref="Write"/> writes now (0–255): a stored tile carries it, and <see cref="ReadTile"/> is given it back.</summary>
    byte StateFormat { get; }

    /// <summary>The most bytes <see cref="Write"/> ever writes for one tile or a merged window, however many events it holds.</summary>
    int MaxStateBytes { get; }

    /// <summary>A tile holding no event.</summary>
    object NewTile();

    /// <summary>Adds one event's field value (never missing; a number for <see cref="FeatureInput.Numbers"/>), with its event time, to a tile.</summary>
    void Apply(object tile, in FeatureValue value, long eventTimeMs);

    /// <summary>Adds <paramref name="tile"/> to <paramref name="window"/>, a state of the same type; <paramref name="tile"/> is not changed.</summary>
    void Merge(object window, object tile);

    /// <summary>The value a state serves (a window's merged tiles); <see cref="FeatureValue.Missing"/> for none.</summary>
    FeatureValue Read(object state);

    /// <summary>Writes a tile in format <see cref="StateFormat"/>.</summary>
    void Write(object tile, IBufferWriter<byte> output);

    /// <summary>Reads a tile written in <paramref name="format"/> (this version's or an older one the type still reads); throws <see cref="InvalidDataException"/> otherwise.</summary>
    object ReadTile(ReadOnlySpan<byte> data, byte format);
}

/// <summary>
/// Base class of a C# feature type with tiles of <typeparamref name="TTile"/> (a mutable class: the engine keeps one
/// per non-empty tile and one per window being read). A type is named <c>name@version</c> in definitions:
/// <c>{ name: momentum_10m, aggregation: momentum@1, field: points, window: 10m, type: double }</c>.
/// </summary>
public abstract class FeatureType<TTile> : IFeatureType
    where TTile : class
{
    public abstract string Name { get; }

    public abstract int Version { get; }

    public abstract FeatureValueKind ValueKind { get; }

    public virtual FeatureInput Input => FeatureInput.Numbers;

    public abstract bool OrderMatters { get; }

    public virtual byte StateFormat => 1;

    public abstract int MaxStateBytes { get; }

    /// <summary><c>name@version</c>, as definitions name the type.</summary>
    public string Id => $"{Name}@{Version}";

    public abstract TTile NewTile();

    public abstract void Apply(TTile tile, in FeatureValue value, long eventTimeMs);

    public abstract void Merge(TTile window, TTile tile);

    public abstract FeatureValue Read(TTile state);

    public abstract void Write(TTile tile, IBufferWriter<byte> output);

    public abstract TTile ReadTile(ReadOnlySpan<byte> data, byte format);

    object IFeatureType.NewTile() => NewTile();

    void IFeatureType.Apply(object tile, in FeatureValue value, long eventTimeMs) => Apply((TTile)tile, value, eventTimeMs);

    void IFeatureType.Merge(object window, object tile) => Merge((TTile)window, (TTile)tile);

    FeatureValue IFeatureType.Read(object state) => Read((TTile)state);

    void IFeatureType.Write(object tile, IBufferWriter<byte> output) => Write((TTile)tile, output);

    object IFeatureType.ReadTile(ReadOnlySpan<byte> data, byte format) => ReadTile(data, format);

    public override string ToString() => Id;
}
