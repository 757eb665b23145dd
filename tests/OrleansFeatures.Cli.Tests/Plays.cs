using System.Text.Json;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Offline.Files;
using OrleansFeatures.V1;

namespace OrleansFeatures.Cli.Tests;

/// <summary>Events of the tests' <c>plays</c> source, pushed over gRPC and written as JSON lines, and training sets read back.</summary>
internal static class Plays
{
    public static Event Play(string id, string user, long ts, double seconds, string kind = "view", string? device = null)
    {
        var play = new Event();
        play.Fields["event_id"] = new Value { StringValue = id };
        play.Fields["ts"] = new Value { Int64Value = ts };
        play.Fields["user_id"] = new Value { StringValue = user };
        play.Fields["kind"] = new Value { StringValue = kind };
        play.Fields["seconds"] = new Value { DoubleValue = seconds };
        if (device is not null)
        {
            play.Fields["device"] = new Value { StringValue = device };
        }

        return play;
    }

    /// <summary>The event as a JSON line, with its arrival time (Unix ms) when given.</summary>
    public static string ToJson(Event play, long? arrival = null)
    {
        var fields = play.Fields.ToDictionary(f => f.Key, f => ToScalar(f.Value) switch
        {
            { Kind: ScalarKind.Int64 } v => (object)v.AsInt64,
            { Kind: ScalarKind.Double } v => v.AsDouble,
            var v => v.ToString(),
        });
        if (arrival is { } at)
        {
            fields["arrival"] = at;
        }

        return JsonSerializer.Serialize(fields);
    }

    /// <summary>Pushes the events as one batch and checks every one was accepted.</summary>
    public static async Task PushAsync(FeatureIngestion.FeatureIngestionClient ingestion, IEnumerable<Event> events, List<string>? lines = null)
    {
        var request = new PushEventsRequest { Source = "plays" };
        request.Events.Add(events);
        var response = await ingestion.PushEventsAsync(request);
        Assert.Equal(request.Events.Count, response.Accepted);
        lines?.AddRange(request.Events.Select(e => ToJson(e)));
    }

    public static ScalarValue ToScalar(Value? value) => value?.KindCase switch
    {
        Value.KindOneofCase.Int64Value => ScalarValue.FromInt64(value.Int64Value),
        Value.KindOneofCase.DoubleValue => ScalarValue.FromDouble(value.DoubleValue),
        Value.KindOneofCase.StringValue => ScalarValue.FromString(value.StringValue),
        Value.KindOneofCase.BoolValue => ScalarValue.FromBool(value.BoolValue),
        _ => ScalarValue.Null,
    };

    public static async Task<List<Dictionary<string, ScalarValue>>> ReadTrainingSetAsync(string parquet)
    {
        var rows = new List<Dictionary<string, ScalarValue>>();
        await foreach (var row in TableReader.ReadAsync(parquet))
        {
            rows.Add(new Dictionary<string, ScalarValue>(row.Fields, StringComparer.Ordinal));
        }

        return rows;
    }
}
