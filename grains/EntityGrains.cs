using Orleans;
using Orleans.Runtime;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains;

/// <summary>
/// References to entity grains by key without Orleans' per-call type resolution. <c>GetGrain&lt;IEntityGrain&gt;(key)</c>
/// resolves the interface through reflection (custom attributes, type-name formatting) on every call, which cost
/// ~4.5% of the gateway's CPU on the stream path (one reference per entity per delivery); the grain and interface
/// types never change, so they are resolved once and each reference is built from its id.
/// </summary>
internal static class EntityGrains
{
    // A reference type, so a reader never sees one type without the other (threads racing to resolve write equal values).
    private sealed record Types(GrainType Grain, GrainInterfaceType Interface);

    private static Types? _types;

    public static IEntityGrain Get(IGrainFactory grainFactory, string grainKey)
    {
        var types = _types ??= Resolve(grainFactory);
        return (IEntityGrain)grainFactory.GetGrain(GrainId.Create(types.Grain, grainKey), types.Interface);
    }

    /// <summary>The grain id of the entity of <paramref name="grainKey"/>, as storage keys its state.</summary>
    public static GrainId Id(IGrainFactory grainFactory, string grainKey) => GrainId.Create((_types ??= Resolve(grainFactory)).Grain, grainKey);

    private static Types Resolve(IGrainFactory grainFactory)
    {
        // Any key resolves the same types; the reference itself is discarded.
        var prototype = (GrainReference)(object)grainFactory.GetGrain<IEntityGrain>("type-probe");
        return new Types(prototype.GrainId.Type, prototype.InterfaceType);
    }
}
