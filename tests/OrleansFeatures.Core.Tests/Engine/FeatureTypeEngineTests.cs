using System.Buffers;
using OrleansFeatures.Core.Definitions;
using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using SportsMedia.FeatureTypes;
using static OrleansFeatures.Core.Tests.Engine.TestViews;

namespace OrleansFeatures.Core.Tests.Engine;

/// <summary>
/// A C# feature type (the example momentum@1) through the engine: windows, lateness and de-duplication are the
/// engine's, and its readings equal a brute force, the read copy and every restore.
/// </summary>
public class FeatureTypeEngineTests
{
    private const long T0 = 1_800_000_000_000;
    private static readonly FeatureTypeCatalog Types = new([new MomentumFeatureType()]);

    private static FeatureDefinition Momentum(string name = "momentum", TimeSpan? window = null, TimeSpan? tile = null) =>
        new(name, ScalarKind.Double, AggregationKind.Plugin, "amount", window ?? TimeSpan.FromMinutes(10), tile ?? TimeSpan.FromMinutes(1), null, SourceLocation.None, "momentum@1");

    private static CompiledFeatureView MomentumView(int version = 1) =>
        new(new FeatureViewDefinition("view", version, "user", Source, "user_id", null, TimeSpan.FromMinutes(30),
            [Momentum(), Feature("sum", AggregationKind.Sum, window: TimeSpan.FromMinutes(10), tile: TimeSpan.FromMinutes(1)), Feature("n", AggregationKind.Count)], SourceLocation.None), Types);

    [Fact]
    public void A_feature_type_reads_as_a_brute_force_over_its_tile_aligned_window_and_equals_its_read_copy_and_restores()
    {
        for (var log = 0; log < 300; log++)
        {
            var random = new Random(26_000 + log);
            var view = MomentumView();
            var state = new FeatureViewState(view);
            var accepted = new List<(long Time, double Points)>();
            var count = random.Next(1, 120);
            var clock = T0;
            for (var i = 0; i < count; i++)
            {
                clock += random.Next(0, 20_000);
                // Out of order within the lateness, some far behind it (late), some replayed (duplicates).
                var time = clock - (random.Next(4) == 0 ? random.Next(0, 3_600_000) : 0);
                var id = random.Next(10) == 0 && i > 0 ? $"e{random.Next(i)}" : $"e{i}";
                var points = random.Next(-3, 4);
                var outcome = state.Apply(Event(id, time, amount: points), clock);
                if (outcome == ApplyOutcome.Accepted)
                {
                    accepted.Add((time, points));
                }
            }

            var copy = ReadCopy(state);
            var restored = FeatureViewState.ReadPacked(view, Packed(state));
            for (var q = 0; q < 5; q++)
            {
                var now = clock + random.Next(-60_000, 900_000);
                if (now < state.LatenessBound)
                {
                    continue;
                }

                var live = state.Read(0, now);
                Assert.Equal(BruteForce(accepted, now), live.Status == ReadingStatus.Present ? live.Value.AsDouble : null);
                Assert.Equal(live, new PackedViewReader(copy).Read(view, 0, now));
                Assert.Equal(live, restored.Read(0, now));
                Assert.Equal(live, FeatureViewState.Restore(view, state.ToSnapshot()).Read(0, now));
            }
        }
    }

    [Fact]
    public void A_new_version_of_a_feature_type_starts_empty_while_the_other_features_continue()
    {
        var view = MomentumView();
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, amount: 2));
        var bumped = new CompiledFeatureView(view.Definition with { Features = [Momentum() with { FeatureType = "momentum@2" }, .. view.Definition.Features.Skip(1)] },
            new FeatureTypeCatalog([new MomentumFeatureType(), new MomentumV2()]));

        var restored = FeatureViewState.ReadPacked(bumped, Packed(state));

        Assert.Equal(ReadingStatus.NotFound, restored.Read(0, T0).Status);
        Assert.Equal(2.0, restored.Read(1, T0).Value.AsDouble);
    }

    [Fact]
    public void A_state_with_a_feature_type_is_written_in_format_7_and_format_5_states_still_read()
    {
        var view = MomentumView();
        var state = new FeatureViewState(view);
        state.Apply(Event("a", T0, amount: 2));
        Assert.Equal(7, FeatureViewState.ReadFormat(Packed(state)));

        var builtIn = View(Feature("sum", AggregationKind.Sum));
        var old = new FeatureViewState(builtIn);
        old.Apply(Event("a", T0, amount: 2));
        var data = Packed(old);
        data[0] = FeatureViewState.Format5;
        Assert.Equal(old.Read(0, T0), FeatureViewState.ReadPacked(builtIn, data).Read(0, T0));

        // A format-5 state cannot carry a feature type's column.
        var withPlugin = Packed(state);
        withPlugin[0] = FeatureViewState.Format5;
        Assert.Contains("format 5 has unknown tile fields 128", Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(withPlugin)).Message, StringComparison.Ordinal);

        // Nor can a format-6 state (last_n's format, which added only column 64).
        withPlugin[0] = FeatureViewState.Format6;
        Assert.Contains("format 6 has unknown tile fields 128", Assert.Throws<InvalidDataException>(() => FeatureViewState.ReadSnapshot(withPlugin)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_format_7_state_holds_last_n_and_feature_type_tiles_together_through_restore_and_read_copy()
    {
        var view = new CompiledFeatureView(new FeatureViewDefinition("view", 1, "user", Source, "user_id", null, TimeSpan.FromMinutes(30),
            [Momentum(), Feature("last_tags", AggregationKind.LastN, field: "tag", window: TimeSpan.FromMinutes(10), tile: TimeSpan.FromMinutes(1), lastN: 3), Feature("n", AggregationKind.Count)], SourceLocation.None), Types);
        var state = new FeatureViewState(view);
        for (var i = 0; i < 12; i++)
        {
            state.Apply(Event($"e{i}", T0 + (i * 50_000), amount: (i % 5) - 2, tag: $"t{i}"));
        }

        var now = T0 + 600_000;
        var data = Packed(state);
        Assert.Equal(FeatureViewState.BinaryFormat, FeatureViewState.ReadFormat(data));
        var restored = FeatureViewState.ReadPacked(view, data);
        var copy = ReadCopy(state);
        Assert.Equal(FeatureViewState.ReadCopyFormat, copy[0]);
        Assert.Equal(["t11", "t10", "t9"], state.Read(1, now).Value.AsList.Select(v => v.AsString));
        for (var f = 0; f < view.Features.Count; f++)
        {
            var live = state.Read(f, now);
            Assert.Equal(live, restored.Read(f, now));
            Assert.Equal(live, new PackedViewReader(copy).Read(view, f, now));
        }
    }

    [Fact]
    public void A_view_naming_a_feature_type_that_is_not_loaded_does_not_compile_and_says_what_is_loaded()
    {
        var definition = MomentumView().Definition;

        var error = Assert.Throws<FeatureTypeNotLoadedException>(() => new CompiledFeatureView(definition));

        Assert.Contains("feature type 'momentum@1' is not loaded (loaded: none)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Definitions_name_a_feature_type_as_name_at_version_with_the_type_it_serves()
    {
        const string Yaml = """
            entity: game
            key: game_id
            sources:
              - { name: points, fields: { event_id: string, ts: int64, game_id: string, points: int64, team: string } }
            feature_views:
              - name: momentum
                source: points
                features:
                  - { name: m, aggregation: momentum@1, field: points, window: 10m, type: double }
                  - { name: untyped, aggregation: momentum@1, field: points, window: 10m }
                  - { name: texts, aggregation: momentum@1, field: team, window: 10m, type: double }
                  - { name: wrong, aggregation: momentum@1, field: points, window: 10m, type: int64 }
                  - { name: unknown, aggregation: momentum@, field: points, window: 10m, type: double }
                  - { name: listed, aggregation: momentum@1, field: points, window: 10m, type: "list<double>" }
            """;
        var errors = DefinitionLoader.Load([new DefinitionDocument("g.yaml", Yaml)]).Errors.Select(e => e.ToString()).ToList();
        Assert.Contains(errors, e => e.Contains("features[1].type: feature type momentum@1 needs the type it serves", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("unknown aggregation 'momentum@'", StringComparison.Ordinal) && e.Contains("or a C# feature type as name@version", StringComparison.Ordinal));

        // A list is last_n's value type; a feature type serves one scalar.
        Assert.Contains(errors, e => e.Contains("features[5].type: feature type momentum@1 serves int64, double, string or bool, not 'list<double>'", StringComparison.Ordinal));
        Assert.Equal(3, errors.Count);

        var set = DefinitionLoader.Load([new DefinitionDocument("g.yaml", Yaml
            .Replace("      - { name: untyped", "      #", StringComparison.Ordinal)
            .Replace("      - { name: unknown", "      #", StringComparison.Ordinal)
            .Replace("      - { name: listed", "      #", StringComparison.Ordinal))]).Set!;
        var feature = set.FeatureViews["momentum"].FindFeature("m")!;
        Assert.Equal((AggregationKind.Plugin, "momentum@1", ScalarKind.Double), (feature.Aggregation, feature.FeatureType, feature.Type));

        var problems = Types.Check(set);
        Assert.Equal(2, problems.Count);
        Assert.Contains("feature_views.momentum.features.texts: feature type 'momentum@1' reads numbers; 'team' is string", problems);
        Assert.Contains("feature_views.momentum.features.wrong: feature type 'momentum@1' serves double; the feature declares type int64", problems);
        Assert.Contains("feature type 'momentum@1' is not loaded (loaded: none)", FeatureTypeCatalog.Empty.Check(set)[0], StringComparison.Ordinal);
    }

    /// <summary>The brute force: the last ten accepted events (by time, then points) of the tile-aligned window, newest weighing most.</summary>
    private static double? BruteForce(List<(long Time, double Points)> accepted, long now)
    {
        const long Tile = 60_000, Window = 600_000;
        var end = (FeatureViewState.FloorDiv(now, Tile) + 1) * Tile;
        var last = accepted.Where(e => e.Time >= end - Window && e.Time < end).OrderBy(e => e.Time).ThenBy(e => e.Points).TakeLast(10).Reverse().ToList();
        if (last.Count == 0)
        {
            return null;
        }

        double momentum = 0, weight = 1;
        foreach (var e in last)
        {
            momentum += weight * e.Points;
            weight *= MomentumFeatureType.Decay;
        }

        return momentum;
    }

    private static byte[] Packed(FeatureViewState state)
    {
        var buffer = new ArrayBufferWriter<byte>();
        state.WriteTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] ReadCopy(FeatureViewState state)
    {
        var buffer = new ArrayBufferWriter<byte>();
        state.WriteReadCopyTo(buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>momentum@2: the same computation under a new version, to show the state starting fresh.</summary>
    private sealed class MomentumV2 : Sdk.FeatureType<MomentumFeatureType.Tile>
    {
        private static readonly MomentumFeatureType V1 = new();

        public override string Name => "momentum";

        public override int Version => 2;

        public override Sdk.FeatureValueKind ValueKind => Sdk.FeatureValueKind.Double;

        public override bool OrderMatters => false;

        public override int MaxStateBytes => V1.MaxStateBytes;

        public override MomentumFeatureType.Tile NewTile() => V1.NewTile();

        public override void Apply(MomentumFeatureType.Tile tile, in Sdk.FeatureValue value, long eventTimeMs) => V1.Apply(tile, value, eventTimeMs);

        public override void Merge(MomentumFeatureType.Tile window, MomentumFeatureType.Tile tile) => V1.Merge(window, tile);

        public override Sdk.FeatureValue Read(MomentumFeatureType.Tile state) => V1.Read(state);

        public override void Write(MomentumFeatureType.Tile tile, IBufferWriter<byte> output) => V1.Write(tile, output);

        public override MomentumFeatureType.Tile ReadTile(ReadOnlySpan<byte> data, byte format) => V1.ReadTile(data, format);
    }
}
