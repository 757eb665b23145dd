using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;
using Xunit;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// What a push answers for an event that reached views with different lateness bounds: ACCEPTED when any view applied
/// it, LATE only when late in every view, DUPLICATE when some view had it already (ingestion.proto, EventStatus).
/// Within one entity (two views of one entity type) and across entities (one view of each of two entity types).
/// </summary>
public sealed class PushOutcomeTests : IAsyncLifetime
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: clicks
            timestamp_field: ts
            event_id_field: event_id
            fields: { user_id: string, ts: int64, event_id: string }
          - name: views
            timestamp_field: ts
            event_id_field: event_id
            fields: { user_id: string, item_id: string, ts: int64, event_id: string }
        feature_views:
          - name: clicks_patient
            entity: user
            source: clicks
            allowed_lateness: 1h
            features: [{ name: n, aggregation: count, window: 24h }]
          - name: clicks_strict
            entity: user
            source: clicks
            allowed_lateness: 1m
            features: [{ name: n, aggregation: count, window: 24h }]
          - name: user_views
            entity: user
            source: views
            allowed_lateness: 1h
            features: [{ name: n, aggregation: count, window: 24h }]
          - name: item_views
            entity: item
            source: views
            key_field: item_id
            allowed_lateness: 1m
            features: [{ name: n, aggregation: count, window: 24h }]
        """;

    private const long ThirtyMinutesMs = 30 * 60 * 1000;
    private const long ThreeHoursMs = 3 * 60 * 60 * 1000;

    private readonly long _now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private InProcessTestCluster? _cluster;

    private EventRouter Router => _cluster!.Silos[0].ServiceProvider.GetRequiredService<EventRouter>();

    public async Task InitializeAsync()
    {
        _cluster = await FeatureStoreCluster.StartAsync(databasePath: null);
        var result = await _cluster.Client.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey).Apply(
            [new DefinitionDocumentDto("push.yaml", Yaml), new DefinitionDocumentDto("items.yaml", "entity: item\nkey: item_id\n")], dryRun: false);
        Assert.True(result.Applied, string.Join("; ", result.Errors.Select(e => e.Text)));
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("clicks")]
    [InlineData("views")]
    public async Task An_event_duplicate_in_one_view_and_late_in_the_other_is_a_duplicate(string source)
    {
        var halfHourAgo = _now - ThirtyMinutesMs;
        Assert.Equal(RoutedEventStatus.Accepted, await PushAsync(source, "e1", halfHourAgo));
        // Moves both views' watermarks to now: half an hour ago is now late for the strict view only.
        Assert.Equal(RoutedEventStatus.Accepted, await PushAsync(source, "e2", _now));

        Assert.Equal(RoutedEventStatus.Duplicate, await PushAsync(source, "e1", halfHourAgo));
    }

    [Theory]
    [InlineData("clicks")]
    [InlineData("views")]
    public async Task An_event_late_in_one_view_and_applied_in_the_other_is_accepted(string source)
    {
        Assert.Equal(RoutedEventStatus.Accepted, await PushAsync(source, "e1", _now));

        Assert.Equal(RoutedEventStatus.Accepted, await PushAsync(source, "e2", _now - ThirtyMinutesMs));
    }

    [Theory]
    [InlineData("clicks")]
    [InlineData("views")]
    public async Task An_event_late_in_every_view_is_late(string source)
    {
        Assert.Equal(RoutedEventStatus.Accepted, await PushAsync(source, "e1", _now));

        Assert.Equal(RoutedEventStatus.Late, await PushAsync(source, "e2", _now - ThreeHoursMs));
    }

    [Theory]
    [InlineData("clicks")]
    [InlineData("views")]
    public async Task An_event_every_view_had_already_is_a_duplicate(string source)
    {
        Assert.Equal(RoutedEventStatus.Accepted, await PushAsync(source, "e1", _now));

        Assert.Equal(RoutedEventStatus.Duplicate, await PushAsync(source, "e1", _now));
    }

    private async Task<RoutedEventStatus> PushAsync(string source, string id, long timestampMs)
    {
        var fields = new Dictionary<string, ScalarValue>
        {
            ["user_id"] = ScalarValue.FromString("u1"),
            ["event_id"] = ScalarValue.FromString(id),
            ["ts"] = ScalarValue.FromInt64(timestampMs),
        };
        if (source == "views")
        {
            fields["item_id"] = ScalarValue.FromString("i1");
        }

        var result = Assert.Single(await Router.RouteAsync(source, [new RawEvent(id, timestampMs, fields)], CancellationToken.None));
        return result.Status;
    }
}
