using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Sdk;

namespace OrleansFeatures.Core.Engine;

/// <summary>
/// Which tiles a view state keeps, shared by every state of a view: the windowed features that read the same events
/// (same filter, same tile width, and: none for count; the same numeric field for sum/mean/min/max/variance/stddev;
/// the same field's values for first/count_distinct/last_n) share one tile list, and each
/// list holds only the numbers its features read (a count list: index, count, newest time; a list read by sum and
/// max: those plus the sum and the max). Latest features each have a slot. A state restored after a definition change
/// may get its own layout (<see cref="ForRestore"/>) so that a new feature never shares a list with restored tiles.
/// </summary>
internal sealed class TileLayout
{
    private TileLayout(int[] slots, TileGroupShape[] groups, int latestCount)
    {
        Slots = slots;
        Groups = groups;
        LatestCount = latestCount;
    }

    /// <summary>Per feature: its tile group (≥ 0), or <c>~latestSlot</c> (&lt; 0) for a latest feature.</summary>
    public int[] Slots { get; }

    public TileGroupShape[] Groups { get; }

    public int LatestCount { get; }

    /// <summary>The layout where every feature shares as much as it can.</summary>
    public static TileLayout For(IReadOnlyList<CompiledFeature> features) =>
        Build(features, static _ => 0);

    /// <summary>
    /// A layout for a restored state: features share a list only if they also came from the same stored list
    /// (<paramref name="sourceGroup"/>: the stored group of a feature whose state carries over, -1 for a feature that
    /// starts empty). Returns <paramref name="fallback"/> when that splits nothing.
    /// </summary>
    public static TileLayout ForRestore(IReadOnlyList<CompiledFeature> features, Func<int, int> sourceGroup, TileLayout fallback)
    {
        var layout = Build(features, sourceGroup);
        return layout.Groups.Length == fallback.Groups.Length ? fallback : layout;
    }

    private static TileLayout Build(IReadOnlyList<CompiledFeature> features, Func<int, int> origin)
    {
        var slots = new int[features.Count];
        var groups = new List<TileGroupShape>();
        var byKey = new Dictionary<(string Filter, string Field, long TileMs, int Origin), int>();
        var latest = 0;
        for (var i = 0; i < features.Count; i++)
        {
            var feature = features[i];
            if (!feature.IsWindowed)
            {
                slots[i] = ~latest++;
                continue;
            }

            var input = feature.Aggregation == AggregationKind.Count ? TileInput.Events
                : feature.FeatureType is { } type ? (type.Input == FeatureInput.Values ? TileInput.Values : TileInput.Numbers)
                : feature.Aggregation.ReadsAnyValue() ? TileInput.Values
                : TileInput.Numbers;
            var field = input == TileInput.Events ? null : feature.Field;

            // A feature type's tiles are its own list: its state is one object per tile, not a column others share.
            var own = feature.FeatureType is null ? "" : $"\0plugin {i}";
            var key = (feature.Filter?.ToString() ?? "", $"{(int)input}\0{field}{own}", feature.TileMs, origin(i));
            if (!byKey.TryGetValue(key, out var group))
            {
                group = groups.Count;
                byKey[key] = group;
                groups.Add(new TileGroupShape(feature.Filter, field, input, feature.TileMs));
            }

            groups[group].Include(feature);
            slots[i] = group;
        }

        foreach (var group in groups)
        {
            group.Seal();
        }

        return new TileLayout(slots, [.. groups], latest);
    }
}

/// <summary>Which events a tile list counts.</summary>
internal enum TileInput
{
    /// <summary>Every event passing the filter (count).</summary>
    Events,

    /// <summary>Events whose field is a finite admitted number (sum, mean, min, max, variance, stddev).</summary>
    Numbers,

    /// <summary>Events whose field has any non-null value (first, count_distinct, last_n).</summary>
    Values,
}

/// <summary>
/// One shared tile list's shape. A tile is <see cref="Stride"/> longs: index, count, newest event time, then the sum,
/// min, max, Welford mean and M2 (as double bits) and the first value's event time, only if some feature of the list
/// reads them; the first value and the distinct sketch sit beside, in <see cref="TileList.Extras"/>.
/// </summary>
internal sealed class TileGroupShape(FilterExpression? filter, string? field, TileInput input, long tileMs)
{
    public const int IndexAt = 0;
    public const int CountAt = 1;
    public const int NewestAt = 2;

    /// <summary>Where a tile's numbers start: one per bit of <see cref="Columns"/>, in bit order.</summary>
    public const int NumbersAt = 3;

    public const byte HasSum = 1;
    public const byte HasMin = 2;
    public const byte HasMax = 4;
    public const byte HasMoments = 8;
    public const byte HasFirst = 16;
    public const byte HasDistinct = 32;
    public const byte HasLast = 64;

    /// <summary>A C# feature type's tile state (format 7): its <see cref="IFeatureType.StateFormat"/> once per list, its bytes per tile.</summary>
    public const byte HasPlugin = 128;

    /// <summary>Every column bit a stored state of format 5 may carry.</summary>
    public const byte Format5Columns = HasSum | HasMin | HasMax | HasMoments | HasFirst | HasDistinct;

    /// <summary>Every column bit a stored state of format 6 may carry.</summary>
    public const byte Format6Columns = Format5Columns | HasLast;

    /// <summary>Every column bit a stored state of format 7, or a read copy, may carry.</summary>
    public const byte AllColumns = Format6Columns | HasPlugin;

    public FilterExpression? Filter { get; } = filter;

    public string? Field { get; } = field;

    public TileInput Input { get; } = input;

    public long TileMs { get; } = tileMs;

    /// <summary>The most tiles a member's window spans: tiles older than that behind the lateness bound are evicted.</summary>
    public long TilesPerWindow { get; private set; }

    /// <summary><see cref="HasSum"/> | <see cref="HasMin"/> | …: what each tile holds.</summary>
    public byte Columns { get; private set; }

    public int Stride { get; private set; }

    public int SumAt { get; private set; } = -1;

    public int MinAt { get; private set; } = -1;

    public int MaxAt { get; private set; } = -1;

    /// <summary>The Welford mean; M2 is the next word.</summary>
    public int MeanAt { get; private set; } = -1;

    /// <summary>The event time of the tile's first value.</summary>
    public int FirstAt { get; private set; } = -1;

    public bool HasDistinctSketch => (Columns & HasDistinct) != 0;

    public bool HasLastValues => (Columns & HasLast) != 0;

    /// <summary>How many last values a tile keeps: the greatest N among the list's last_n features (0 if none).</summary>
    public int LastCapacity { get; private set; }

    /// <summary>The feature type whose state each tile holds (<see cref="TileExtra.Plugin"/>); a list of one plugin feature only.</summary>
    public IFeatureType? Plugin { get; private set; }

    /// <summary>True when tiles carry a first value, a sketch, last values or a feature type's state beside their numbers.</summary>
    public bool HasExtras => (Columns & (HasFirst | HasDistinct | HasLast | HasPlugin)) != 0;

    internal void Include(CompiledFeature feature)
    {
        TilesPerWindow = Math.Max(TilesPerWindow, feature.TilesPerWindow);
        Columns |= ColumnsOf(feature.Aggregation);
        LastCapacity = Math.Max(LastCapacity, feature.LastN);
        Plugin ??= feature.FeatureType;
    }

    /// <summary>The numbers a tile must hold for <paramref name="aggregation"/>; a count and a mean's count come from the count.</summary>
    public static byte ColumnsOf(AggregationKind aggregation) => aggregation switch
    {
        AggregationKind.Sum or AggregationKind.Mean => HasSum,
        AggregationKind.Min => HasMin,
        AggregationKind.Max => HasMax,
        AggregationKind.Variance or AggregationKind.Stddev => HasMoments,
        AggregationKind.First => HasFirst,
        AggregationKind.CountDistinct => HasDistinct,
        AggregationKind.LastN => HasLast,
        AggregationKind.Plugin => HasPlugin,
        _ => 0,
    };

    internal void Seal()
    {
        var at = NewestAt + 1;
        if ((Columns & HasSum) != 0) SumAt = at++;
        if ((Columns & HasMin) != 0) MinAt = at++;
        if ((Columns & HasMax) != 0) MaxAt = at++;
        if ((Columns & HasMoments) != 0)
        {
            MeanAt = at;
            at += 2;
        }

        if ((Columns & HasFirst) != 0) FirstAt = at++;
        Stride = at;
    }
}
