using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Grains.Tests;

/// <summary>A small, fixed definition set for grain tests.</summary>
internal static class TestDefinitions
{
    public const string Source = "clicks";

    public const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: clicks
            timestamp_field: ts
            event_id_field: event_id
            fields: { user_id: string, kind: string, amount: double, ts: int64, event_id: string }
        feature_views:
          - name: activity
            source: clicks
            ttl: 30d
            allowed_lateness: 1h
            features:
              - { name: last_kind, latest: kind }
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: amount_24h, aggregation: sum, field: amount, window: 24h }
        feature_services:
          - name: scorer
            features: [activity:clicks_1h, activity:amount_24h, activity:last_kind]
            defaults: { "activity:clicks_1h": 0 }
        """;

    public static List<DefinitionDocumentDto> Documents(string yaml = Yaml) => [new DefinitionDocumentDto("test.yaml", yaml)];

    /// <summary>Applies <paramref name="yaml"/> (by default <see cref="Yaml"/>) to the registry and returns the registry version it became.</summary>
    public static async Task<long> ApplyAsync(IGrainFactory grains, string yaml = Yaml)
    {
        var result = await grains.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).Apply(Documents(yaml), dryRun: false);
        Assert.True(result.Applied, string.Join("; ", result.Errors.Select(e => e.Text).Concat(result.Rejections)));
        return result.Version;
    }

    /// <summary>An event of the <see cref="Source"/> source for user "u".</summary>
    public static FeatureEvent Click(string id, long ts, string kind, double amount) => new(id, ts, new Dictionary<string, ScalarValue>
    {
        ["user_id"] = ScalarValue.FromString("u"),
        ["kind"] = ScalarValue.FromString(kind),
        ["amount"] = ScalarValue.FromDouble(amount),
    });
}
