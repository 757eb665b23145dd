using System.IO.Hashing;
using System.Text;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Sdk;

namespace OrleansFeatures.Core.Engine;

/// <summary>One feature prepared for the hot path: durations in milliseconds, tile width resolved.</summary>
public sealed class CompiledFeature
{
    internal CompiledFeature(FeatureDefinition definition, int index, IFeatureType? featureType)
    {
        FeatureType = featureType;
        Definition = definition;
        Index = index;
        Aggregation = definition.Aggregation;
        Field = definition.Field;
        Filter = definition.Where;
        if (definition.Window is { } window)
        {
            var tile = definition.Tile ?? TileRule.DefaultTileFor(window);
            WindowMs = (long)window.TotalMilliseconds;
            TileMs = (long)tile.TotalMilliseconds;
            if (TileMs <= 0 || WindowMs <= 0 || WindowMs % TileMs != 0)
            {
                throw new ArgumentException($"feature '{definition.Name}': tile {tile} must be positive and divide window {window}", nameof(definition));
            }

            TilesPerWindow = WindowMs / TileMs;
        }

        // Two features are the same computation when these agree; state carries over only between equal signatures.
        // A feature type's name@version stands for its aggregation: a new version is a new computation.
        // A last_n's N is part of it: tiles kept for a smaller N cannot answer a larger one.
        Signature = string.Join('|', Aggregation == AggregationKind.Plugin ? definition.FeatureType : Aggregation.ToString(), Field, WindowMs, TileMs, Filter?.ToString() ?? "");
        if (Aggregation == AggregationKind.LastN)
        {
            if (definition.LastN is < 1 or > FeatureDefinition.MaxLastN)
            {
                throw new ArgumentException($"feature '{definition.Name}': last_n needs n between 1 and {FeatureDefinition.MaxLastN}, not {definition.LastN}", nameof(definition));
            }

            LastN = definition.LastN;
            Signature += "|" + LastN.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    public FeatureDefinition Definition { get; }

    public int Index { get; }

    public string Name => Definition.Name;

    public AggregationKind Aggregation { get; }

    /// <summary>The C# feature type of a <see cref="AggregationKind.Plugin"/> feature; null for a built-in aggregation.</summary>
    public IFeatureType? FeatureType { get; }

    public string? Field { get; }

    public FilterExpression? Filter { get; }

    /// <summary>0 for <see cref="AggregationKind.Latest"/>.</summary>
    public long WindowMs { get; }

    /// <summary>0 for <see cref="AggregationKind.Latest"/>.</summary>
    public long TileMs { get; }

    public long TilesPerWindow { get; }

    public bool IsWindowed => WindowMs > 0;

    /// <summary>For last_n: the most values served; 0 otherwise.</summary>
    public int LastN { get; }

    public ScalarKind ResultKind => Definition.Type;

    public string Signature { get; }
}

/// <summary>A feature view prepared for the engine: features indexed, durations in milliseconds.</summary>
public sealed class CompiledFeatureView
{
    private readonly Dictionary<string, int> _indexByName = new(StringComparer.Ordinal);

    /// <summary>
    /// Compiles <paramref name="definition"/>; a feature naming a C# feature type takes it from <paramref name="featureTypes"/>
    /// and throws <see cref="FeatureTypeNotLoadedException"/> when it is not there (or does not serve the declared type).
    /// </summary>
    public CompiledFeatureView(FeatureViewDefinition definition, FeatureTypeCatalog? featureTypes = null)
    {
        Definition = definition;
        var features = new CompiledFeature[definition.Features.Count];
        for (var i = 0; i < features.Length; i++)
        {
            IFeatureType? featureType = null;
            if (definition.Features[i].Aggregation == AggregationKind.Plugin)
            {
                var catalog = featureTypes ?? FeatureTypeCatalog.Empty;
                if (catalog.Problem(definition, definition.Features[i]) is { } problem)
                {
                    throw new FeatureTypeNotLoadedException($"feature view '{definition.Name}' feature '{definition.Features[i].Name}': {problem}");
                }

                featureType = catalog.Find(definition.Features[i].FeatureType!);
            }

            features[i] = new CompiledFeature(definition.Features[i], i, featureType);
            _indexByName[features[i].Name] = i;
        }

        Features = features;
        Layout = TileLayout.For(features);
        AllowedLatenessMs = (long)definition.AllowedLateness.TotalMilliseconds;
        TtlMs = definition.Ttl is { } ttl ? (long)ttl.TotalMilliseconds : null;
        Fingerprint = FingerprintOf(features);
    }

    public FeatureViewDefinition Definition { get; }

    public IReadOnlyList<CompiledFeature> Features { get; }

    /// <summary>The tile lists every state of this view keeps (features sharing filter, field and tile width share one).</summary>
    internal TileLayout Layout { get; }

    public long AllowedLatenessMs { get; }

    public long? TtlMs { get; }

    /// <summary>
    /// XXH3-64 of the features' names and signatures in order: a read copy (<see cref="PackedViewReader"/>) names no
    /// feature, so it is read only by a view with the same fingerprint (and version), whose feature <c>i</c> is the
    /// one it wrote as feature <c>i</c>.
    /// </summary>
    public ulong Fingerprint { get; }

    private static ulong FingerprintOf(CompiledFeature[] features)
    {
        var text = new StringBuilder();
        foreach (var feature in features)
        {
            // Names and signatures never hold a NUL, so the joined text is unambiguous.
            text.Append(feature.Name).Append('\0').Append(feature.Signature).Append('\0');
        }

        return XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(text.ToString()));
    }

    /// <summary>Index of the feature named <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name) => _indexByName.TryGetValue(name, out var index) ? index : -1;
}
