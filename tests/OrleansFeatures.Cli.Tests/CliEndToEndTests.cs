using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Cli.Tests;

/// <summary>Every ofs command against the real gateway process: exit codes, JSON output and error messages.</summary>
public sealed class CliEndToEndTests
{
    private const string Yaml = """
        entity: user
        key: user_id
        sources:
          - name: plays
            fields: { event_id: string, ts: int64, user_id: string, kind: string, seconds: double }
        feature_views:
          - name: user_plays
            source: plays
            features:
              - { name: last_kind, latest: kind }
              - { name: plays_1h, aggregation: count, window: 1h }
              - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }
        feature_services:
          - name: ranker
            features: [user_plays:plays_1h, user_plays:seconds_1h, user_plays:last_kind]
            defaults: { "user_plays:plays_1h": 0 }
        """;

    [Fact]
    public async Task Validate_reports_each_error_as_file_line_column_field_without_a_store()
    {
        using var temp = new TempDirectory();
        var good = Path.Combine(temp.Path, "good.yaml");
        await File.WriteAllTextAsync(good, Yaml);
        var valid = await Ofs.RunAsync("validate", good);
        Assert.True(valid.ExitCode == ExitCodes.Success, valid.ToString());
        Assert.Contains("1 feature view(s)", valid.Output, StringComparison.Ordinal);

        var bad = Path.Combine(temp.Path, "bad.yaml");
        await File.WriteAllTextAsync(bad, Yaml.Replace("aggregation: sum", "aggregation: total", StringComparison.Ordinal));
        var invalid = await Ofs.RunAsync("validate", bad, "--output", "json");
        Assert.Equal(ExitCodes.Invalid, invalid.ExitCode);
        Assert.Contains($"{bad}:12:42", invalid.Error, StringComparison.Ordinal);
        Assert.Contains("feature_views[0].features[2].aggregation: unknown aggregation 'total'", invalid.Error, StringComparison.Ordinal);
        var error = invalid.Json.GetProperty("errors")[0];
        Assert.Equal(12, error.GetProperty("line").GetInt32());
        Assert.False(invalid.Json.GetProperty("valid").GetBoolean());

        var missing = await Ofs.RunAsync("validate", Path.Combine(temp.Path, "nope.yaml"));
        Assert.Equal(ExitCodes.Invalid, missing.ExitCode);
        var usage = await Ofs.RunAsync("validate");
        Assert.Equal(ExitCodes.Usage, usage.ExitCode);
    }

    [Fact]
    public async Task Validate_plan_and_describe_show_derived_columns()
    {
        using var temp = new TempDirectory();
        var definitions = Path.Combine(temp.Path, "plays.yaml");
        await File.WriteAllTextAsync(definitions, Yaml.Replace(
            "    defaults: { \"user_plays:plays_1h\": 0 }",
            "    defaults: { \"user_plays:plays_1h\": 0 }\n  - name: rate\n    features: [user_plays:plays_1h, user_plays:seconds_1h, seconds_per_play]\n    derived: { seconds_per_play: \"seconds_1h / max(plays_1h, 1)\" }",
            StringComparison.Ordinal));

        var valid = await Ofs.RunAsync("validate", definitions);
        Assert.True(valid.ExitCode == ExitCodes.Success, valid.ToString());
        Assert.Contains("2 feature service(s), 1 derived column(s)", valid.Output, StringComparison.Ordinal);
        Assert.Contains("rate.seconds_per_play: double = seconds_1h / max(plays_1h, 1)", valid.Output, StringComparison.Ordinal);
        var json = await Ofs.RunAsync("validate", definitions, "--output", "json");
        var derived = Assert.Single(json.Json.GetProperty("summary").GetProperty("derived_columns").EnumerateArray());
        Assert.Equal("double", derived.GetProperty("type").GetString());

        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        var address = gateway.GrpcAddress.ToString();
        var plan = await Ofs.RunAsync("plan", definitions, "--address", address);
        Assert.True(plan.ExitCode == ExitCodes.Success, plan.ToString());
        Assert.Contains("+ feature_service rate: 3 columns (1 derived) of user", plan.Output, StringComparison.Ordinal);
        var apply = await Ofs.RunAsync("apply", definitions, "--address", address);
        Assert.True(apply.ExitCode == ExitCodes.Success, apply.ToString());
        var describe = await Ofs.RunAsync("describe", "service", "rate", "--address", address);
        Assert.True(describe.ExitCode == ExitCodes.Success, describe.ToString());
        Assert.Contains("seconds_per_play = seconds_1h / max(plays_1h, 1) (double, derived)", describe.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_apply_list_describe_get_and_push_work_against_a_running_store()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        var address = gateway.GrpcAddress.ToString();
        var definitions = Path.Combine(temp.Path, "plays.yaml");
        await File.WriteAllTextAsync(definitions, Yaml);

        var plan = await Ofs.RunAsync("plan", definitions, "--address", address, "--output", "json");
        Assert.True(plan.ExitCode == ExitCodes.Success, plan.ToString());
        Assert.Contains(plan.Json.GetProperty("changes").EnumerateArray(), c => c.GetProperty("name").GetString() == "user_plays" && c.GetProperty("kind").GetString() == "added");

        var apply = await Ofs.RunAsync("apply", definitions, "--address", address, "--output", "json");
        Assert.True(apply.ExitCode == ExitCodes.Success, apply.ToString());
        Assert.Equal(1, apply.Json.GetProperty("registry_version").GetInt64());

        var unchanged = await Ofs.RunAsync("plan", definitions, "--address", address);
        Assert.Equal(ExitCodes.Success, unchanged.ExitCode);
        Assert.Contains("no changes", unchanged.Output, StringComparison.Ordinal);

        // Removing a feature is breaking: plan says so with exit 3 (for CI), apply refuses with exit 3.
        var breaking = Path.Combine(temp.Path, "breaking.yaml");
        await File.WriteAllTextAsync(breaking, Yaml
            .Replace("      - { name: seconds_1h, aggregation: sum, field: seconds, window: 1h }\n", "", StringComparison.Ordinal)
            .Replace("user_plays:seconds_1h, ", "", StringComparison.Ordinal));
        var refusedPlan = await Ofs.RunAsync("plan", breaking, "--address", address, "--output", "json");
        Assert.True(refusedPlan.ExitCode == ExitCodes.Refused, refusedPlan.ToString());
        Assert.NotEmpty(refusedPlan.Json.GetProperty("rejections").EnumerateArray());
        var refusedApply = await Ofs.RunAsync("apply", breaking, "--address", address);
        Assert.True(refusedApply.ExitCode == ExitCodes.Refused, refusedApply.ToString());
        var stale = await Ofs.RunAsync("apply", definitions, "--address", address, "--expected-registry-version", "0");
        Assert.True(stale.ExitCode == ExitCodes.Refused, stale.ToString());

        var list = await Ofs.RunAsync("list", "--address", address, "--output", "json");
        Assert.Equal(ExitCodes.Success, list.ExitCode);
        Assert.Equal("1", list.Json.GetProperty("registryVersion").GetString());
        var describe = await Ofs.RunAsync("describe", "view", "user_plays", "--address", address);
        Assert.Equal(ExitCodes.Success, describe.ExitCode);
        Assert.Contains("plays_1h: int64 = count over 1h", describe.Output, StringComparison.Ordinal);
        var unknown = await Ofs.RunAsync("describe", "service", "nope", "--address", address);
        Assert.Equal(ExitCodes.Invalid, unknown.ExitCode);

        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var events = Path.Combine(temp.Path, "events.jsonl");
        await File.WriteAllLinesAsync(events,
        [
            $$"""{"event_id":"e1","ts":{{now - 60_000}},"user_id":"u1","kind":"click","seconds":10}""",
            $$"""{"event_id":"e2","ts":{{now - 30_000}},"user_id":"u1","kind":"view","seconds":5.5}""",
            $$"""{"event_id":"e3","ts":{{now - 30_000}},"kind":"view","seconds":5.5}""",
            $$"""{"event_id":"e1","ts":{{now - 60_000}},"user_id":"u1","kind":"click","seconds":10}""",
        ]);
        var push = await Ofs.RunAsync("push", events, "--source", "plays", "--address", address, "--output", "json");
        Assert.True(push.ExitCode == ExitCodes.Partial, push.ToString());
        Assert.Equal(2, push.Json.GetProperty("accepted").GetInt64());
        Assert.Equal(1, push.Json.GetProperty("duplicates").GetInt64());
        Assert.Equal(1, push.Json.GetProperty("rejected").GetInt64());
        Assert.Contains("events.jsonl:3", push.Error, StringComparison.Ordinal);

        var get = await Ofs.RunAsync("get", "-e", "user", "u1", "nobody", "--service", "ranker", "--address", address, "--output", "json");
        Assert.True(get.ExitCode == ExitCodes.Success, get.ToString());
        var u1 = get.Json.GetProperty("entities")[0].GetProperty("values");
        Assert.Equal(2, u1[0].GetProperty("value").GetInt64());
        Assert.Equal(15.5, u1[1].GetProperty("value").GetDouble());
        Assert.Equal("view", u1[2].GetProperty("value").GetString());
        var nobody = get.Json.GetProperty("entities")[1].GetProperty("values");
        Assert.Equal("DEFAULTED", nobody[0].GetProperty("status").GetString());
        Assert.Equal("NOT_FOUND", nobody[2].GetProperty("status").GetString());

        var table = await Ofs.RunAsync("get", "-e", "user", "u1", "-f", "user_plays:plays_1h", "user_plays:last_kind", "--address", address);
        Assert.Equal(ExitCodes.Success, table.ExitCode);
        Assert.Matches(@"entity_id\s+user_plays:plays_1h\s+user_plays:last_kind\nu1\s+2\s+view", table.Output.Replace("\r", "", StringComparison.Ordinal));
        var badFeature = await Ofs.RunAsync("get", "-e", "user", "u1", "-f", "user_plays:nope", "--address", address, "--output", "json");
        Assert.Equal(ExitCodes.Invalid, badFeature.ExitCode);
        Assert.Contains("nope", badFeature.Json.GetProperty("error").GetString(), StringComparison.Ordinal);

        await gateway.KillAsync();
        var down = await Ofs.RunAsync("list", "--address", address);
        Assert.True(down.ExitCode == ExitCodes.Unavailable, down.ToString());
    }
}
