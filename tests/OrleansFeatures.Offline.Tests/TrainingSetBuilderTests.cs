using OrleansFeatures.Core.Engine;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Offline.PointInTime;
using OrleansFeatures.TestInfrastructure;
using Parquet;
using Parquet.Schema;
using static OrleansFeatures.Offline.Tests.TrainingSetHarness;

namespace OrleansFeatures.Offline.Tests;

public sealed class TrainingSetBuilderTests
{
    // An hour boundary, so minute tiles and the hour window line up with the times below.
    private const long T0 = 1_767_225_600_000;
    private const long Minute = 60_000;
    private const long Hour = 60 * Minute;

    [Fact]
    public async Task Each_row_sees_the_events_of_its_entity_up_to_its_time_with_defaults_and_statuses()
    {
        using var temp = new TempDirectory();
        var (result, rows) = await BuildAsync(
            temp.Path,
            [Event("a", "u1", T0, "click", 10), Event("b", "u1", T0 + (10 * Minute), "view", 30), Event("c", "u1", T0 + (20 * Minute), "click", 20), Event("d", "u2", T0, "view", 5)],
            [Row("u1", T0 - 1, 0), Row("u1", T0 + (15 * Minute), 1), Row("u1", T0 + (20 * Minute), 0), Row("u1", T0 + (3 * 60 * Minute), 1), Row("nobody", T0, 0)]);

        Assert.Equal(5, result.LabelRows);
        Assert.Equal(["user_id", "event_timestamp", "label", "plays:plays_1h", "plays:plays_1h:status", "plays:clicks_1h", "plays:clicks_1h:status", "plays:seconds_1h", "plays:seconds_1h:status", "plays:max_seconds_1h", "plays:max_seconds_1h:status", "plays:last_kind", "plays:last_kind:status"], result.Columns);

        // Before any event: the default where the service has one, else NOT_FOUND.
        Assert.Equal(0, rows[0]["plays:plays_1h"].AsInt64);
        Assert.Equal("DEFAULTED", rows[0]["plays:plays_1h:status"].AsString);
        Assert.False(rows[0].ContainsKey("plays:clicks_1h"));
        Assert.Equal("NOT_FOUND", rows[0]["plays:clicks_1h:status"].AsString);

        Assert.Equal(2, rows[1]["plays:plays_1h"].AsInt64);
        Assert.Equal(1, rows[1]["plays:clicks_1h"].AsInt64);
        Assert.Equal(40, rows[1]["plays:seconds_1h"].AsDouble);
        Assert.Equal("view", rows[1]["plays:last_kind"].AsString);

        // An event at exactly the row's time is in.
        Assert.Equal(3, rows[2]["plays:plays_1h"].AsInt64);
        Assert.Equal(30, rows[2]["plays:max_seconds_1h"].AsDouble);
        Assert.Equal("click", rows[2]["plays:last_kind"].AsString);

        // Past the 2h TTL everything has expired; the count falls back to its default.
        Assert.Equal("DEFAULTED", rows[3]["plays:plays_1h:status"].AsString);
        Assert.Equal("EXPIRED", rows[3]["plays:clicks_1h:status"].AsString);
        Assert.Equal("EXPIRED", rows[3]["plays:last_kind:status"].AsString);
        Assert.Equal(1, rows[3]["label"].AsInt64);

        Assert.Equal("nobody", rows[4]["user_id"].AsString);
        Assert.Equal("NOT_FOUND", rows[4]["plays:last_kind:status"].AsString);
    }

    [Fact]
    public async Task An_event_that_arrived_late_counts_only_from_its_arrival_and_one_beyond_the_lateness_never()
    {
        string[] events =
        [
            Event("a", "u1", T0 + (30 * Minute), "click", 1, arrival: T0 + (30 * Minute)),
            Event("late", "u1", T0 + (15 * Minute), "click", 1, arrival: T0 + (40 * Minute)),
            Event("in-lateness", "u1", T0 + (25 * Minute), "click", 1, arrival: T0 + (41 * Minute)),
        ];
        string[] rows = [Row("u1", T0 + (40 * Minute), 0), Row("u1", T0 + (45 * Minute), 0)];

        using var temp = new TempDirectory();
        var (result, byArrival) = await BuildAsync(temp.Path, events, rows, arrivalField: "arrival");
        Assert.Equal(1, byArrival[0]["plays:plays_1h"].AsInt64);
        Assert.Equal(2, byArrival[1]["plays:plays_1h"].AsInt64);
        Assert.Equal(1, result.Late);

        // Without arrival times every event is taken to arrive at its event time: in order, so none is late.
        using var again = new TempDirectory();
        var (_, byEventTime) = await BuildAsync(again.Path, events, rows);
        Assert.Equal(3, byEventTime[0]["plays:plays_1h"].AsInt64);
    }

    [Fact]
    public async Task An_event_ahead_of_its_arrival_never_makes_a_later_arriving_on_time_event_late()
    {
        // 10 minutes of lateness; an event 59 minutes ahead of its arrival, then on-time events.
        string[] events =
        [
            Event("future", "u1", T0 + (59 * Minute), "view", 1, arrival: T0),
            Event("on-time", "u1", T0 + Minute, "click", 2, arrival: T0 + Minute),
            Event("a-bit-late", "u1", T0 - (5 * Minute), "click", 4, arrival: T0 + (2 * Minute)),
        ];
        string[] rows = [Row("u1", T0 + (3 * Minute), 0), Row("u1", T0 + (59 * Minute), 0)];

        using var temp = new TempDirectory();
        var (result, byArrival) = await BuildAsync(temp.Path, events, rows, arrivalField: "arrival");

        Assert.Equal(0, result.Late);
        Assert.Equal(3, result.Accepted);
        Assert.Equal(2, byArrival[0]["plays:plays_1h"].AsInt64);
        Assert.Equal(6, byArrival[0]["plays:seconds_1h"].AsDouble);
        Assert.Equal("view", byArrival[0]["plays:last_kind"].AsString);
        // The window at T0+59m starts at T0: the future event and the on-time one.
        Assert.Equal(2, byArrival[1]["plays:plays_1h"].AsInt64);
        Assert.Equal(3, byArrival[1]["plays:seconds_1h"].AsDouble);
    }

    [Fact]
    public async Task A_number_whose_sum_could_overflow_is_rejected_so_no_cell_is_infinite()
    {
        using var temp = new TempDirectory();
        var (result, rows) = await BuildAsync(
            temp.Path,
            [Event("a", "u1", T0, "click", 1e308), Event("b", "u1", T0, "click", 1e308), Event("c", "u1", T0, "click", 3)],
            [Row("u1", T0 + Minute, 0)]);

        Assert.Equal(2, result.EventsRejected);
        Assert.Contains(result.RejectedExamples, e => e.Contains("field 'seconds'", StringComparison.Ordinal) && e.Contains("events.jsonl:1", StringComparison.Ordinal));
        Assert.Equal(3, rows[0]["plays:seconds_1h"].AsDouble);
        Assert.Equal(1, rows[0]["plays:plays_1h"].AsInt64);
    }

    [Fact]
    public async Task A_replayed_event_counts_once_and_invalid_events_are_rejected_with_their_line()
    {
        using var temp = new TempDirectory();
        var (result, rows) = await BuildAsync(
            temp.Path,
            [Event("a", "u1", T0, "click", 1), Event("a", "u1", T0, "click", 1), """{"event_id":"x","ts":1767225600000,"kind":"click"}""", "not json"],
            [Row("u1", T0 + Minute, 0)]);

        Assert.Equal(1, rows[0]["plays:plays_1h"].AsInt64);
        Assert.Equal(1, result.Duplicates);
        Assert.Equal(2, result.EventsRejected);
        Assert.Contains(result.RejectedExamples, e => e.Contains("events.jsonl:3", StringComparison.Ordinal) && e.Contains("user_id", StringComparison.Ordinal));
        Assert.Contains(result.RejectedExamples, e => e.Contains("events.jsonl:4", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Rows_equal_a_fresh_engine_replay_per_row_whatever_the_partitioning()
    {
        var random = new Random(7);
        var (events, rows) = RandomLog(random, users: 12, eventCount: 600, rowCount: 150);
        var definitions = Definitions();
        var view = new CompiledFeatureView(definitions.FeatureViews["plays"]);
        var service = definitions.FeatureServices["model"];

        using var temp = new TempDirectory();
        var (result, one) = await BuildAsync(temp.Path, events.Select(e => e.Json), rows.Select(r => Row(r.User, r.Time, r.Label)), "arrival", partitions: 1, definitions);
        var (_, five) = await BuildAsync(temp.Path, [], rows.Select(r => Row(r.User, r.Time, r.Label)), "arrival", partitions: 5, definitions);
        Assert.True(result.Late > 0 && result.Duplicates > 0, "the log should hold late and duplicate events");

        for (var i = 0; i < rows.Count; i++)
        {
            var (user, time, label) = rows[i];
            Assert.Equal(user, one[i]["user_id"].AsString);
            Assert.Equal(label, one[i]["label"].AsInt64);

            // The oracle: a new state, every event of the user that had arrived by the row's time, in arrival order.
            var state = new FeatureViewState(view);
            foreach (var e in events.Where(e => e.User == user && e.Arrival <= time).OrderBy(e => e.Arrival))
            {
                state.Apply(e.Event);
            }

            foreach (var reference in service.Features)
            {
                var reading = state.AcceptedCount == 0 ? new FeatureReading(ScalarValue.Null, ReadingStatus.NotFound, 0) : state.Read(view.IndexOf(reference.Feature), time);
                var expected = ServedValue.Serve(reading, service.Defaults.TryGetValue(reference, out var d) ? d : null);
                var name = reference.ToString();
                Assert.Equal(TrainingSetBuilder.StatusName(expected.Status), one[i][$"{name}:status"].AsString);
                Assert.Equal(expected.Value, one[i].GetValueOrDefault(name));
                Assert.Equal(one[i].GetValueOrDefault(name), five[i].GetValueOrDefault(name));
                Assert.Equal(one[i][$"{name}:status"], five[i][$"{name}:status"]);
            }
        }
    }

    [Fact]
    public async Task Derived_columns_equal_a_brute_force_computation_from_each_rows_served_inputs()
    {
        var yaml = Yaml.Replace(
            """
                features: [plays:plays_1h, plays:clicks_1h, plays:seconds_1h, plays:max_seconds_1h, plays:last_kind]
                defaults: { "plays:plays_1h": 0 }
            """,
            """
                features: [plays:plays_1h, plays:clicks_1h, plays:seconds_1h, plays:max_seconds_1h, plays:last_kind, click_share, heavy]
                defaults: { "plays:plays_1h": 0, heavy: -1.0 }
                derived:
                  click_share: "clicks_1h / plays_1h"
                  heavy: "if(max_seconds_1h >= 40, seconds_1h, 0)"
            """,
            StringComparison.Ordinal);
        Assert.NotEqual(Yaml, yaml);
        var random = new Random(11);
        var (events, rows) = RandomLog(random, users: 10, eventCount: 500, rowCount: 200);

        using var temp = new TempDirectory();
        var (result, built) = await BuildAsync(temp.Path, events.Select(e => e.Json), rows.Select(r => Row(r.User, r.Time, r.Label)), "arrival", partitions: 3, Definitions(yaml));

        Assert.Equal(["click_share", "click_share:status", "heavy", "heavy:status"], result.Columns.TakeLast(4));
        var statuses = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in built)
        {
            // The oracle reads the row's own feature columns (pinned against the engine by the test above).
            var clicks = row.GetValueOrDefault("plays:clicks_1h");
            var plays = row["plays:plays_1h"].AsInt64;
            var (share, shareStatus) = clicks.IsNull
                ? (ScalarValue.Null, row["plays:clicks_1h:status"].AsString)
                : plays == 0 ? (ScalarValue.Null, "NOT_FOUND") : (ScalarValue.FromDouble((double)clicks.AsInt64 / plays), "PRESENT");
            Assert.Equal(share, row.GetValueOrDefault("click_share"));
            Assert.Equal(shareStatus, row["click_share:status"].AsString);
            statuses.Add(shareStatus);

            var max = row.GetValueOrDefault("plays:max_seconds_1h");
            var seconds = row.GetValueOrDefault("plays:seconds_1h");
            var (heavy, heavyStatus) = max.IsNull ? (-1.0, "DEFAULTED")
                : max.AsDouble < 40 ? (0.0, "PRESENT")
                : seconds.IsNull ? (-1.0, "DEFAULTED")
                : (seconds.AsDouble, "PRESENT");
            Assert.Equal(ScalarValue.FromDouble(heavy), row["heavy"]);
            Assert.Equal(heavyStatus, row["heavy:status"].AsString);
        }

        Assert.Superset(new HashSet<string> { "PRESENT", "NOT_FOUND", "EXPIRED" }, statuses);
    }

    [Fact]
    public async Task First_variance_stddev_and_count_distinct_rows_equal_a_brute_force_over_the_arrived_events()
    {
        var yaml = Yaml
            .Replace("    ttl: 2h\n", "", StringComparison.Ordinal)
            .Replace("- { name: last_kind, latest: kind }", string.Join("\n      ",
                "- { name: last_kind, latest: kind }",
                "- { name: first_kind_1h, aggregation: first, field: kind, window: 1h }",
                "- { name: first_seconds_1h, aggregation: first, field: seconds, window: 1h }",
                "- { name: var_seconds_1h, aggregation: variance, field: seconds, window: 1h }",
                "- { name: sd_seconds_1h, aggregation: stddev, field: seconds, window: 1h }",
                "- { name: distinct_seconds_1h, aggregation: count_distinct, field: seconds, window: 1h }"), StringComparison.Ordinal)
            .Replace(
                "features: [plays:plays_1h, plays:clicks_1h, plays:seconds_1h, plays:max_seconds_1h, plays:last_kind]",
                "features: [plays:first_kind_1h, plays:first_seconds_1h, plays:var_seconds_1h, plays:sd_seconds_1h, plays:distinct_seconds_1h, plays:plays_1h]",
                StringComparison.Ordinal);
        var definitions = Definitions(yaml);
        Assert.Equal(6, definitions.FeatureServices["model"].Features.Count);
        var random = new Random(26);
        var (events, rows) = RandomLog(random, users: 6, eventCount: 700, rowCount: 160);

        using var temp = new TempDirectory();
        var (result, built) = await BuildAsync(temp.Path, events.Select(e => e.Json), rows.Select(r => Row(r.User, r.Time, r.Label)), "arrival", partitions: 3, definitions);
        Assert.True(result.Late > 0 && result.Duplicates > 0, "the log should hold late and duplicate events");

        var lateness = 10 * Minute;
        for (var i = 0; i < rows.Count; i++)
        {
            var (user, time, _) = rows[i];
            // Brute force: the user's events that had arrived by the row's time, in arrival order, less replays and
            // events older than the watermark minus the lateness; then the hour of minute tiles holding the row's time.
            var accepted = new List<FeatureEvent>();
            var ids = new HashSet<string>();
            var watermark = long.MinValue;
            foreach (var e in events.Where(e => e.User == user && e.Arrival <= time).OrderBy(e => e.Arrival))
            {
                if ((watermark != long.MinValue && e.Event.TimestampMs < watermark - lateness) || !ids.Add(e.Event.EventId))
                {
                    continue;
                }

                accepted.Add(e.Event);
                watermark = Math.Max(watermark, Math.Min(e.Event.TimestampMs, e.Arrival));
            }

            var high = time / Minute;
            var inWindow = accepted.Where(e => e.TimestampMs / Minute > high - 60 && e.TimestampMs / Minute <= high).ToList();
            var seconds = inWindow.Select(e => e.Fields["seconds"].AsDouble).ToList();
            var earliest = inWindow.Count == 0 ? null : inWindow.Aggregate((a, b) => b.TimestampMs < a.TimestampMs ? b : a);
            var mean = seconds.Count == 0 ? 0 : seconds.Average();
            var variance = seconds.Count == 0 ? 0 : seconds.Sum(s => (s - mean) * (s - mean)) / seconds.Count;
            var context = $"row {i} ({user} at {time})";

            if (accepted.Count == 0)
            {
                Assert.All(new[] { "first_kind_1h", "first_seconds_1h", "var_seconds_1h", "sd_seconds_1h", "distinct_seconds_1h" },
                    name => Assert.Equal("NOT_FOUND", built[i][$"plays:{name}:status"].AsString));
                continue;
            }

            Assert.Equal(earliest?.Fields["kind"] ?? ScalarValue.Null, built[i].GetValueOrDefault("plays:first_kind_1h"));
            Assert.Equal(earliest?.Fields["seconds"] ?? ScalarValue.Null, built[i].GetValueOrDefault("plays:first_seconds_1h"));
            Assert.Equal(seconds.Distinct().Count(), built[i]["plays:distinct_seconds_1h"].AsInt64);
            Assert.Equal(inWindow.Count, built[i]["plays:plays_1h"].AsInt64);
            if (seconds.Count == 0)
            {
                Assert.Equal("NOT_FOUND", built[i]["plays:var_seconds_1h:status"].AsString);
                continue;
            }

            Assert.True(Math.Abs(variance - built[i]["plays:var_seconds_1h"].AsDouble) <= 1e-9 * Math.Max(1, variance), context);
            Assert.True(Math.Abs(Math.Sqrt(variance) - built[i]["plays:sd_seconds_1h"].AsDouble) <= 1e-9 * Math.Max(1, variance), context);
        }
    }

    [Fact]
    public async Task Last_n_rows_equal_a_brute_force_over_the_arrived_events_as_json_lists()
    {
        var yaml = Yaml
            .Replace("    ttl: 2h\n", "", StringComparison.Ordinal)
            .Replace("- { name: last_kind, latest: kind }", string.Join("\n      ",
                "- { name: last_kind, latest: kind }",
                "- { name: last_kinds_1h, aggregation: last_n, n: 4, field: kind, window: 1h }",
                "- { name: last_seconds_1h, aggregation: last_n, n: 2, field: seconds, window: 1h, tile: 5m }"), StringComparison.Ordinal)
            .Replace(
                "features: [plays:plays_1h, plays:clicks_1h, plays:seconds_1h, plays:max_seconds_1h, plays:last_kind]",
                "features: [plays:last_kinds_1h, plays:last_seconds_1h, plays:plays_1h]",
                StringComparison.Ordinal);
        var definitions = Definitions(yaml);
        var random = new Random(27);
        var (events, rows) = RandomLog(random, users: 6, eventCount: 700, rowCount: 160);

        using var temp = new TempDirectory();
        var (result, built) = await BuildAsync(temp.Path, events.Select(e => e.Json), rows.Select(r => Row(r.User, r.Time, r.Label)), "arrival", partitions: 3, definitions);
        Assert.True(result.Late > 0 && result.Duplicates > 0, "the log should hold late and duplicate events");

        var lateness = 10 * Minute;
        var nonEmpty = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var (user, time, _) = rows[i];
            // Brute force: the user's events that had arrived by the row's time, in arrival order, less replays and late
            // events; then, per window, the last n by event time (ties: the later arrived), newest first.
            var accepted = new List<FeatureEvent>();
            var ids = new HashSet<string>();
            var watermark = long.MinValue;
            foreach (var e in events.Where(e => e.User == user && e.Arrival <= time).OrderBy(e => e.Arrival))
            {
                if ((watermark != long.MinValue && e.Event.TimestampMs < watermark - lateness) || !ids.Add(e.Event.EventId))
                {
                    continue;
                }

                accepted.Add(e.Event);
                watermark = Math.Max(watermark, Math.Min(e.Event.TimestampMs, e.Arrival));
            }

            if (accepted.Count == 0)
            {
                Assert.Equal("NOT_FOUND", built[i]["plays:last_kinds_1h:status"].AsString);
                Assert.False(built[i].ContainsKey("plays:last_kinds_1h") && !built[i]["plays:last_kinds_1h"].IsNull);
                continue;
            }

            ScalarValue[] Last(string field, long tileMs, int n) =>
            [
                .. accepted.Where(e => e.TimestampMs / tileMs > (time / tileMs) - (Hour / tileMs) && e.TimestampMs / tileMs <= time / tileMs)
                    .OrderBy(e => e.TimestampMs).TakeLast(n).Reverse().Select(e => e.Fields[field]),
            ];
            var kinds = Last("kind", Minute, 4);
            var seconds = Last("seconds", 5 * Minute, 2);
            nonEmpty += kinds.Length > 0 ? 1 : 0;
            var context = $"row {i} ({user} at {time})";

            Assert.Equal(("PRESENT", "PRESENT"), (built[i]["plays:last_kinds_1h:status"].AsString, built[i]["plays:last_seconds_1h:status"].AsString));
            Assert.True(ScalarValue.FromList(kinds).ToString() == built[i]["plays:last_kinds_1h"].AsString, context);
            Assert.True(ScalarValue.FromList(seconds).ToString() == built[i]["plays:last_seconds_1h"].AsString, context);
            Assert.Equal(kinds.Select(k => k.AsString), System.Text.Json.JsonSerializer.Deserialize<string[]>(built[i]["plays:last_kinds_1h"].AsString));
        }

        Assert.True(nonEmpty > 20, $"only {nonEmpty} rows had values in their window");
    }

    [Fact]
    public async Task Csv_and_parquet_events_give_the_rows_json_lines_give()
    {
        var random = new Random(11);
        var (events, rows) = RandomLog(random, users: 5, eventCount: 200, rowCount: 40);
        var entityRows = rows.Select(r => Row(r.User, r.Time, r.Label)).ToList();

        using var json = new TempDirectory();
        var (_, fromJson) = await BuildAsync(json.Path, events.Select(e => e.Json), entityRows);

        using var csv = new TempDirectory();
        await File.WriteAllLinesAsync(
            Path.Combine(csv.Path, "events.csv"),
            ["event_id,ts,user_id,kind,seconds", .. events.Select(e => $"{e.Event.EventId},{e.Event.TimestampMs},{e.User},\"{e.Event.Fields["kind"]}\",{e.Event.Fields["seconds"]}")]);
        var (_, fromCsv) = await BuildAsync(csv.Path, [], entityRows, eventsFile: "events.csv");

        using var parquet = new TempDirectory();
        await WriteParquetAsync(Path.Combine(parquet.Path, "events.parquet"), events);
        var (_, fromParquet) = await BuildAsync(parquet.Path, [], entityRows, eventsFile: "events.parquet");

        Assert.Equal(fromJson.Count, fromCsv.Count);
        for (var i = 0; i < fromJson.Count; i++)
        {
            Assert.Equal(fromJson[i], fromCsv[i]);
            Assert.Equal(fromJson[i], fromParquet[i]);
        }
    }

    [Fact]
    public async Task Csv_keys_and_labels_pass_through_verbatim_and_values_convert_only_where_declared()
    {
        using var temp = new TempDirectory();
        await File.WriteAllLinesAsync(
            Path.Combine(temp.Path, "events.csv"),
            [
                "event_id,ts,user_id,kind,seconds,note",
                $"a,{T0},0042,click,1.5,7",
                $"b,{T0},42,view,2,x",
                $"c,{T0},1e3,click,3,true",
                $"d,{T0},true,007,4,",
            ]);
        await File.WriteAllLinesAsync(
            Path.Combine(temp.Path, "entities.csv"),
            [
                "user_id,event_timestamp,label",
                $"0042,{T0 + Minute},007",
                $"42,{T0 + Minute},1",
                $"1e3,{T0 + Minute},1.50",
                $"true,{T0 + Minute},true",
            ]);

        var (result, rows) = await BuildAsync(temp.Path, [], [], eventsFile: "events.csv", entitiesFile: "entities.csv");

        Assert.Equal(0, result.EventsRejected);
        Assert.Equal(["0042", "42", "1e3", "true"], rows.Select(r => r["user_id"].AsString));
        Assert.Equal(["007", "1", "1.50", "true"], rows.Select(r => r["label"].AsString));
        Assert.Equal([1.5, 2, 3, 4], rows.Select(r => r["plays:seconds_1h"].AsDouble));
        Assert.Equal(["click", "view", "click", "007"], rows.Select(r => r["plays:last_kind"].AsString));
    }

    [Fact]
    public async Task Csv_cells_may_hold_quoted_commas_quotes_and_newlines_and_errors_name_the_right_line()
    {
        using var temp = new TempDirectory();
        await File.WriteAllTextAsync(
            Path.Combine(temp.Path, "events.csv"),
            $"event_id,ts,user_id,kind,seconds\r\n" +
            $"a,{T0},u1,\"line one\nline two, \"\"quoted\"\"\",1\r\n" +
            $"b,{T0},u1,click,not-a-number\n" +
            $"c,{T0},u1,\"multi\r\nline\",2\n");

        var (result, rows) = await BuildAsync(temp.Path, [], [Row("u1", T0 + Minute, 0)], eventsFile: "events.csv");

        Assert.Equal(1, result.EventsRejected);
        Assert.Contains(result.RejectedExamples, e => e.Contains("events.csv:4", StringComparison.Ordinal) && e.Contains("seconds", StringComparison.Ordinal));
        Assert.Equal(2, rows[0]["plays:plays_1h"].AsInt64);
        Assert.Equal(3, rows[0]["plays:seconds_1h"].AsDouble);
    }

    [Fact]
    public async Task An_undeclared_json_object_or_array_in_an_event_is_ignored_as_online()
    {
        using var temp = new TempDirectory();
        var (result, rows) = await BuildAsync(
            temp.Path,
            [
                $$$"""{"event_id":"a","ts":{{{T0}}},"user_id":"u1","kind":"click","seconds":1,"meta":{"device":"a1","tags":[1,{"x":null}]}}""",
                $$"""{"event_id":"b","ts":{{T0}},"user_id":"u1","kind":"view","seconds":2,"history":[{"k":1}]}""",
                $$"""{"event_id":"c","ts":{{T0}},"user_id":"u1","kind":{"nested":true},"seconds":2}""",
            ],
            [Row("u1", T0 + Minute, 0)]);

        // A declared field must still be a scalar, as online.
        Assert.Equal(1, result.EventsRejected);
        Assert.Contains(result.RejectedExamples, e => e.Contains("events.jsonl:3", StringComparison.Ordinal) && e.Contains("'kind'", StringComparison.Ordinal));
        Assert.Equal(2, rows[0]["plays:plays_1h"].AsInt64);
    }

    [Fact]
    public async Task An_undeclared_nested_parquet_column_is_ignored_as_online()
    {
        using var temp = new TempDirectory();
        await Parquet.Serialization.ParquetSerializer.SerializeAsync(
            [
                new NestedPlay { EventId = "a", Ts = T0, UserId = "u1", Kind = "click", Seconds = 1, Meta = new() { Device = "a1" }, Tags = [1, 2] },
                new NestedPlay { EventId = "b", Ts = T0, UserId = "u1", Kind = "view", Seconds = 2, Meta = new() { Device = "b2" }, Tags = [] },
            ],
            Path.Combine(temp.Path, "events.parquet"));

        var (result, rows) = await BuildAsync(temp.Path, [], [Row("u1", T0 + Minute, 0)], eventsFile: "events.parquet");

        Assert.Equal(0, result.EventsRejected);
        Assert.Equal(2, rows[0]["plays:plays_1h"].AsInt64);
        Assert.Equal(3, rows[0]["plays:seconds_1h"].AsDouble);
    }

    internal sealed class NestedPlay
    {
        [System.Text.Json.Serialization.JsonPropertyName("event_id")]
        public string EventId { get; set; } = "";

        [System.Text.Json.Serialization.JsonPropertyName("ts")]
        public long Ts { get; set; }

        [System.Text.Json.Serialization.JsonPropertyName("user_id")]
        public string UserId { get; set; } = "";

        [System.Text.Json.Serialization.JsonPropertyName("kind")]
        public string Kind { get; set; } = "";

        [System.Text.Json.Serialization.JsonPropertyName("seconds")]
        public double Seconds { get; set; }

        [System.Text.Json.Serialization.JsonPropertyName("meta")]
        public NestedMeta Meta { get; set; } = new();

        [System.Text.Json.Serialization.JsonPropertyName("tags")]
        public List<int> Tags { get; set; } = [];
    }

    internal sealed class NestedMeta
    {
        [System.Text.Json.Serialization.JsonPropertyName("kind")]
        public string Device { get; set; } = "";
    }

    [Fact]
    public async Task Label_columns_keep_the_entity_tables_header_order()
    {
        using var temp = new TempDirectory();
        await File.WriteAllLinesAsync(
            Path.Combine(temp.Path, "entities.csv"),
            ["user_id,zeta,event_timestamp,alpha,mid", $"u1,,{T0 + Minute},a,", $"u1,z,{T0 + Minute},,m"]);

        var (result, rows) = await BuildAsync(temp.Path, [Event("a", "u1", T0, "click", 1)], [], entitiesFile: "entities.csv");

        Assert.Equal(["user_id", "event_timestamp", "zeta", "alpha", "mid"], result.Columns.Take(5));
        Assert.Equal("a", rows[0]["alpha"].AsString);
        Assert.Equal("z", rows[1]["zeta"].AsString);
    }

    private static async Task WriteParquetAsync(string path, List<LoggedEvent> events)
    {
        var schema = new ParquetSchema(new DataField<string>("event_id"), new DataField<long>("ts"), new DataField<string>("user_id"), new DataField<string>("kind"), new DataField<double>("seconds"));
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync(schema.DataFields[0], events.Select(e => e.Event.EventId).ToArray(), null);
        await group.WriteAsync<long>(schema.DataFields[1], events.Select(e => e.Event.TimestampMs).ToArray().AsMemory(), null, null, default);
        await group.WriteAsync(schema.DataFields[2], events.Select(e => e.User).ToArray(), null);
        await group.WriteAsync(schema.DataFields[3], events.Select(e => e.Event.Fields["kind"].AsString).ToArray(), null);
        await group.WriteAsync<double>(schema.DataFields[4], events.Select(e => e.Event.Fields["seconds"].AsDouble).ToArray().AsMemory(), null, null, default);
    }

    internal sealed record LoggedEvent(string User, long Arrival, FeatureEvent Event, string Json);

    /// <summary>Events arriving in order with event times up to 20 minutes behind (some beyond the 10-minute lateness) and replays.</summary>
    internal static (List<LoggedEvent> Events, List<(string User, long Time, long Label)> Rows) RandomLog(Random random, int users, int eventCount, int rowCount)
    {
        var events = new List<LoggedEvent>();
        var arrival = T0;
        for (var i = 0; i < eventCount; i++)
        {
            arrival += random.Next(0, 40_000);
            var user = $"u{random.Next(users)}";
            string id;
            long ts;
            string kind;
            double seconds;
            if (i > 0 && random.NextDouble() < 0.1)
            {
                var original = events[random.Next(events.Count)];
                (user, id, ts, kind, seconds) = (original.User, original.Event.EventId, original.Event.TimestampMs, original.Event.Fields["kind"].AsString, original.Event.Fields["seconds"].AsDouble);
            }
            else
            {
                id = $"e{i}";
                ts = arrival - random.Next(0, 20 * 60_000);
                kind = random.NextDouble() < 0.5 ? "click" : "view";
                seconds = random.Next(0, 100) / 4.0;
            }

            var fields = new Dictionary<string, ScalarValue>
            {
                ["user_id"] = ScalarValue.FromString(user),
                ["kind"] = ScalarValue.FromString(kind),
                ["seconds"] = ScalarValue.FromDouble(seconds),
            };
            events.Add(new LoggedEvent(user, arrival, new FeatureEvent(id, ts, fields), Event(id, user, ts, kind, seconds, arrival)));
        }

        var rows = new List<(string, long, long)>();
        for (var i = 0; i < rowCount; i++)
        {
            rows.Add(($"u{random.Next(users + 2)}", T0 + (long)(random.NextDouble() * (arrival - T0 + (3 * 3_600_000L))), random.Next(2)));
        }

        return (events, rows);
    }
}
