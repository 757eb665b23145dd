using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>Definitions the end-to-end tests apply over gRPC.</summary>
internal static class E2EDefinitions
{
    public const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            timestamp_field: ts
            event_id_field: event_id
            fields: { user_id: string, sport: string, kind: string, seconds: double, ts: int64, event_id: string }
        feature_views:
          - name: user_plays
            source: plays
            ttl: 7d
            allowed_lateness: 1h
            features:
              - { name: last_sport, latest: sport }
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: seconds_24h, aggregation: sum, field: seconds, window: 24h }
              - { name: mean_seconds_24h, aggregation: mean, field: seconds, window: 24h }
              - { name: max_seconds_24h, aggregation: max, field: seconds, window: 24h }
        feature_services:
          - name: ranker
            features: [user_plays:plays_1h, user_plays:seconds_24h, user_plays:last_sport]
            defaults: { "user_plays:plays_1h": 0, "user_plays:seconds_24h": 0.0 }
            encodings: { "user_plays:last_sport": { categories: [football, tennis, f1] } }
        """;

    public static ApplyDefinitionsRequest Request(string yaml = Yaml)
    {
        var request = new ApplyDefinitionsRequest();
        request.Documents.Add(new DefinitionDocument { Name = "plays.yaml", Yaml = yaml });
        return request;
    }
}
