using OrleansFeatures.V1;

/// <summary>The serving benchmark's definitions: items with 20 features, users with 10, and the services that read them.</summary>
internal static class ServingDefinitions
{
    public const string Source = "bench-events";

    /// <summary>20 features of an item: one lookup of this service is "1 entity x 20 features".</summary>
    public const string ItemService = "bench_item20";

    /// <summary>10 user features (read once per request) and 10 item features per row: "N rows x 20 features".</summary>
    public const string RankerService = "bench_ranker20";

    public static readonly string[] ItemFeatures =
    [
        "views_5m", "views_1h", "views_24h", "clicks_5m", "clicks_1h", "clicks_24h", "shares_24h", "events_5m", "events_1h", "events_24h",
        "value_sum_1h", "value_sum_24h", "value_mean_1h", "value_mean_24h", "value_min_1h", "value_min_24h", "value_max_1h", "value_max_24h",
        "last_value", "last_flag",
    ];

    public static readonly string[] UserFeatures =
    [
        "views_1h", "clicks_1h", "clicks_24h", "shares_24h", "events_5m", "events_24h", "value_sum_1h", "value_mean_24h", "value_max_24h", "last_value",
    ];

    /// <summary>Item columns as "view:feature".</summary>
    public static string[] ItemColumns => [.. ItemFeatures.Select(f => "bench_item:" + f)];

    /// <summary>The ranker's columns in model order: the user's 10, then the first 10 of the item's.</summary>
    public static string[] RankerColumns => [.. UserFeatures.Select(f => "bench_user:" + f), .. ItemFeatures.Take(10).Select(f => "bench_item:" + f)];

    public static ApplyDefinitionsRequest Request()
    {
        var request = new ApplyDefinitionsRequest();
        request.Documents.Add(new DefinitionDocument { Name = "bench-users.yaml", Yaml = Users });
        request.Documents.Add(new DefinitionDocument { Name = "bench-items.yaml", Yaml = Items });
        return request;
    }

    private const string Users = """
        entity: user
        key: user_id
        sources:
          - name: bench-events
            fields: { event_id: string, ts: int64, user_id: string, item_id: string, kind: string, value: double, flag: bool }
        feature_views:
          - name: bench_user
            source: bench-events
            ttl: 7d
            features:
              - { name: views_1h, aggregation: count, window: 1h, where: "kind == 'view'" }
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: clicks_24h, aggregation: count, window: 24h, where: "kind == 'click'" }
              - { name: shares_24h, aggregation: count, window: 24h, where: "kind == 'share'" }
              - { name: events_5m, aggregation: count, window: 5m }
              - { name: events_24h, aggregation: count, window: 24h }
              - { name: value_sum_1h, aggregation: sum, field: value, window: 1h }
              - { name: value_mean_24h, aggregation: mean, field: value, window: 24h }
              - { name: value_max_24h, aggregation: max, field: value, window: 24h }
              - { name: last_value, latest: value }
        """;

    /// <summary>The 20 features of an item (every aggregation and window kind), shared with <c>bench memory</c>.</summary>
    internal const string ItemFeatures20 = """
              - { name: views_5m, aggregation: count, window: 5m, where: "kind == 'view'" }
              - { name: views_1h, aggregation: count, window: 1h, where: "kind == 'view'" }
              - { name: views_24h, aggregation: count, window: 24h, where: "kind == 'view'" }
              - { name: clicks_5m, aggregation: count, window: 5m, where: "kind == 'click'" }
              - { name: clicks_1h, aggregation: count, window: 1h, where: "kind == 'click'" }
              - { name: clicks_24h, aggregation: count, window: 24h, where: "kind == 'click'" }
              - { name: shares_24h, aggregation: count, window: 24h, where: "kind == 'share'" }
              - { name: events_5m, aggregation: count, window: 5m }
              - { name: events_1h, aggregation: count, window: 1h }
              - { name: events_24h, aggregation: count, window: 24h }
              - { name: value_sum_1h, aggregation: sum, field: value, window: 1h }
              - { name: value_sum_24h, aggregation: sum, field: value, window: 24h }
              - { name: value_mean_1h, aggregation: mean, field: value, window: 1h }
              - { name: value_mean_24h, aggregation: mean, field: value, window: 24h }
              - { name: value_min_1h, aggregation: min, field: value, window: 1h }
              - { name: value_min_24h, aggregation: min, field: value, window: 24h }
              - { name: value_max_1h, aggregation: max, field: value, window: 1h }
              - { name: value_max_24h, aggregation: max, field: value, window: 24h }
              - { name: last_value, latest: value }
              - { name: last_flag, latest: flag }
        """;

    private const string Items = $$"""
        entity: item
        key: item_id
        feature_views:
          - name: bench_item
            source: bench-events
            key_field: item_id
            ttl: 7d
            features:
        {{ItemFeatures20}}
        feature_services:
          - name: bench_item20
            features: [bench_item:views_5m, bench_item:views_1h, bench_item:views_24h, bench_item:clicks_5m, bench_item:clicks_1h, bench_item:clicks_24h, bench_item:shares_24h, bench_item:events_5m, bench_item:events_1h, bench_item:events_24h, bench_item:value_sum_1h, bench_item:value_sum_24h, bench_item:value_mean_1h, bench_item:value_mean_24h, bench_item:value_min_1h, bench_item:value_min_24h, bench_item:value_max_1h, bench_item:value_max_24h, bench_item:last_value, bench_item:last_flag]
          - name: bench_ranker20
            features: [bench_user:views_1h, bench_user:clicks_1h, bench_user:clicks_24h, bench_user:shares_24h, bench_user:events_5m, bench_user:events_24h, bench_user:value_sum_1h, bench_user:value_mean_24h, bench_user:value_max_24h, bench_user:last_value, bench_item:views_5m, bench_item:views_1h, bench_item:views_24h, bench_item:clicks_5m, bench_item:clicks_1h, bench_item:clicks_24h, bench_item:shares_24h, bench_item:events_5m, bench_item:events_1h, bench_item:events_24h]
            defaults: { "bench_item:views_5m": 0, "bench_user:events_5m": 0 }
        """;
}
