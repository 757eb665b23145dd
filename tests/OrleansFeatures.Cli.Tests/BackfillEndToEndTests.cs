using Grpc.Net.Client;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using static OrleansFeatures.Cli.Tests.Plays;

namespace OrleansFeatures.Cli.Tests;

/// <summary>
/// A view added while events stream in gets its history through <c>ofs backfill</c> (the durable push path), in
/// two slices with live events between them: every event counts exactly once, as in the view that saw it all live.
/// </summary>
public sealed class BackfillEndToEndTests
{
    private const string LiveView = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, kind: string, seconds: double }
        feature_views:
          - name: live
            source: plays
            features:
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }
        """;

    private const string NewView = """

          - name: backfilled
            source: plays
            allowed_lateness: 1h
            features:
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }
        """;

    [Fact]
    public async Task Backfill_resumes_is_idempotent_and_live_events_count_once()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        var address = gateway.GrpcAddress.ToString();
        using var channel = GrpcChannel.ForAddress(gateway.GrpcAddress);
        var ingestion = new FeatureIngestion.FeatureIngestionClient(channel);
        var serving = new FeatureServing.FeatureServingClient(channel);

        var definitions = Path.Combine(temp.Path, "plays.yaml");
        await File.WriteAllTextAsync(definitions, LiveView);
        Assert.Equal(0, (await Ofs.RunAsync("apply", definitions, "--address", address)).ExitCode);

        // The past: 300 events the live view received as they happened (pushed here in event-time order).
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var history = Enumerable.Range(0, 300).Select(i => Play($"h{i}", $"u{i % 3}", now - (50 * 60_000) + (i * 9_000), i % 7)).ToList();
        foreach (var chunk in history.Chunk(100))
        {
            await PushAsync(ingestion, chunk);
        }

        // A new view arrives; live events keep flowing into both views.
        await File.WriteAllTextAsync(definitions, LiveView + NewView);
        var apply = await Ofs.RunAsync("apply", definitions, "--address", address);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        var live1 = Enumerable.Range(0, 10).Select(i => Play($"l{i}", $"u{i % 3}", now - 30_000 + (i * 1_000), 3)).ToList();
        await PushAsync(ingestion, live1);

        // The history export overlaps the live stream by five events.
        var export = Path.Combine(temp.Path, "history.jsonl");
        await File.WriteAllLinesAsync(export, history.Concat(live1.Take(5)).Select(e => ToJson(e)));

        var first = await Ofs.RunAsync("backfill", export, "--source", "plays", "--batch-size", "50", "--stop-after", "100", "--address", address, "--output", "json");
        Assert.True(first.ExitCode == ExitCodes.Partial, first.ToString());
        Assert.Equal(100, first.Json.GetProperty("rows_done").GetInt64());
        Assert.False(first.Json.GetProperty("completed").GetBoolean());

        var live2 = Enumerable.Range(10, 10).Select(i => Play($"l{i}", $"u{i % 3}", now - 20_000 + (i * 1_000), 2)).ToList();
        await PushAsync(ingestion, live2);

        var second = await Ofs.RunAsync("backfill", export, "--source", "plays", "--batch-size", "50", "--address", address, "--output", "json");
        Assert.True(second.ExitCode == ExitCodes.Success, second.ToString());
        Assert.True(second.Json.GetProperty("resumed").GetBoolean());
        Assert.Equal(305, second.Json.GetProperty("rows_done").GetInt64());
        Assert.Equal(300, second.Json.GetProperty("accepted").GetInt64());
        Assert.Equal(5, second.Json.GetProperty("duplicates").GetInt64());
        Assert.Equal(0, second.Json.GetProperty("late").GetInt64());

        // Done means done: the same command again sends nothing; a fresh progress file resends all, as duplicates.
        var again = await Ofs.RunAsync("backfill", export, "--source", "plays", "--address", address, "--output", "json");
        Assert.Equal(300, again.Json.GetProperty("accepted").GetInt64());
        var fresh = await Ofs.RunAsync("backfill", export, "--source", "plays", "--progress-file", Path.Combine(temp.Path, "other.progress"), "--address", address, "--output", "json");
        Assert.True(fresh.ExitCode == ExitCodes.Success, fresh.ToString());
        Assert.Equal(0, fresh.Json.GetProperty("accepted").GetInt64());
        Assert.Equal(305, fresh.Json.GetProperty("duplicates").GetInt64());

        var lookup = new GetOnlineFeaturesRequest { EntityType = "user" };
        lookup.EntityIds.Add(["u0", "u1", "u2"]);
        (lookup.Features ??= new()).References.Add(["live:plays_1h", "backfilled:plays_1h", "live:seconds_1h", "backfilled:seconds_1h"]);
        var served = await serving.GetOnlineFeaturesAsync(lookup);
        var all = history.Concat(live1).Concat(live2).ToList();
        for (var u = 0; u < 3; u++)
        {
            var mine = all.Where(e => e.Fields["user_id"].StringValue == $"u{u}").ToList();
            var values = served.Entities[u].Values;
            Assert.Equal(mine.Count, values[0].Value.Int64Value);
            Assert.Equal(mine.Count, values[1].Value.Int64Value);
            Assert.Equal(mine.Sum(e => e.Fields["seconds"].DoubleValue), values[2].Value.DoubleValue);
            Assert.Equal(values[2].Value.DoubleValue, values[3].Value.DoubleValue);
        }
    }

    [Fact]
    public async Task A_backfill_whose_rows_were_all_rejected_says_so_on_rerun_and_retries_or_restarts_on_request()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        var address = gateway.GrpcAddress.ToString();
        var definitions = Path.Combine(temp.Path, "plays.yaml");
        await File.WriteAllTextAsync(definitions, LiveView);
        Assert.Equal(ExitCodes.Success, (await Ofs.RunAsync("apply", definitions, "--address", address)).ExitCode);

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var file = Path.Combine(temp.Path, "history.jsonl");
        string Line(int i, string seconds) => $$"""{"event_id":"r{{i}}","ts":{{now - 60_000 + i}},"user_id":"u1","kind":"view","seconds":{{seconds}}}""";
        await File.WriteAllLinesAsync(file, Enumerable.Range(0, 3).Select(i => Line(i, "\"n/a\"")));

        var first = await Ofs.RunAsync("backfill", file, "--source", "plays", "--address", address);
        Assert.True(first.ExitCode == ExitCodes.Partial, first.ToString());
        Assert.Contains("rejected 3", first.Output, StringComparison.Ordinal);
        Assert.Contains("--retry-rejected", first.Error, StringComparison.Ordinal);

        // Rerun: nothing is sent, and it says that the backfill is complete with 3 rejected rows, and how to retry.
        var rerun = await Ofs.RunAsync("backfill", file, "--source", "plays", "--address", address);
        Assert.True(rerun.ExitCode == ExitCodes.Partial, rerun.ToString());
        Assert.DoesNotContain("(resumed)", rerun.Output, StringComparison.Ordinal);
        Assert.Contains("already complete, nothing sent", rerun.Output, StringComparison.Ordinal);
        Assert.Contains("rejected 3", rerun.Output, StringComparison.Ordinal);
        Assert.Contains("--retry-rejected", rerun.Error, StringComparison.Ordinal);
        Assert.Contains("--restart", rerun.Error, StringComparison.Ordinal);

        // The file fixed, --retry-rejected sends exactly the rejected rows; --restart sends the whole file again.
        await File.WriteAllLinesAsync(file, Enumerable.Range(0, 3).Select(i => Line(i, "1.5")));
        var retry = await Ofs.RunAsync("backfill", file, "--source", "plays", "--retry-rejected", "--address", address, "--output", "json");
        Assert.True(retry.ExitCode == ExitCodes.Success, retry.ToString());
        Assert.Equal(3, retry.Json.GetProperty("accepted").GetInt64());
        Assert.Equal(0, retry.Json.GetProperty("rejected").GetInt64());
        Assert.Equal(3, retry.Json.GetProperty("retried").GetInt64());
        Assert.Equal(3, retry.Json.GetProperty("rows_done").GetInt64());

        var restart = await Ofs.RunAsync("backfill", file, "--source", "plays", "--restart", "--address", address, "--output", "json");
        Assert.True(restart.ExitCode == ExitCodes.Success, restart.ToString());
        Assert.Equal(3, restart.Json.GetProperty("duplicates").GetInt64());
        Assert.Equal(3, restart.Json.GetProperty("rows_done").GetInt64());
    }
}
