using System.Text.Json;
using System.Text.RegularExpressions;
using OrleansFeatures.TestInfrastructure;
using YamlDotNet.RepresentationModel;

namespace OrleansFeatures.Infra.Tests;

/// <summary>
/// Invariants of infra/observability's alert rules and dashboard that need no running silo (the scrape test in
/// EndToEnd.Tests checks that every series they use is emitted): each alert is complete and links a runbook section
/// that exists, the freshness SLO is the one documented, and whatever can page has a panel to look at.
/// </summary>
public sealed partial class ObservabilityRulesTests
{
    private static readonly string Directory = Path.Combine(RepositoryPaths.Root, "infra", "observability");

    [Fact]
    public void Every_alert_has_a_severity_a_duration_a_summary_and_pages_link_a_runbook_section_that_exists()
    {
        var headings = RunbookAnchors();
        var rules = AlertRules();
        Assert.NotEmpty(rules);
        foreach (var rule in rules)
        {
            var name = Scalar(rule, "alert");
            Assert.False(string.IsNullOrWhiteSpace(Scalar(rule, "expr")), $"{name}: no expr");
            Assert.Matches("^[0-9]+[smh]$", Scalar(rule, "for"));
            var severity = Scalar(Map(rule, "labels"), "severity");
            Assert.Contains(severity, new[] { "page", "ticket" });
            var annotations = Map(rule, "annotations");
            Assert.False(string.IsNullOrWhiteSpace(Scalar(annotations, "summary")), $"{name}: no summary");
            var runbook = annotations.Children.TryGetValue(new YamlScalarNode("runbook"), out var link) ? ((YamlScalarNode)link).Value : null;
            if (severity == "page")
            {
                Assert.False(runbook is null, $"{name} pages without a runbook link");
            }

            if (runbook is not null)
            {
                Assert.StartsWith("docs/operations.md#", runbook, StringComparison.Ordinal);
                var anchor = runbook["docs/operations.md#".Length..];
                Assert.True(headings.Contains(anchor), $"{name}: docs/operations.md has no section '#{anchor}' (sections: {string.Join(", ", headings)})");
            }
        }
    }

    [Fact]
    public void The_freshness_slo_pages_when_p99_over_5_minutes_stays_above_250_ms_for_10_minutes_per_entrance()
    {
        var rule = Assert.Single(AlertRules(), r => Scalar(r, "alert") == "OrleansFeaturesFreshnessSlo");
        var expr = Regex.Replace(Scalar(rule, "expr"), @"\s+", " ").Trim();

        Assert.Equal("histogram_quantile(0.99, sum by (le, path) (rate(orleansfeatures_ingest_freshness_seconds_bucket[5m]))) > 0.25", expr);
        Assert.Equal("10m", Scalar(rule, "for"));
        Assert.Equal("page", Scalar(Map(rule, "labels"), "severity"));
    }

    [Fact]
    public void Dashboard_panels_have_unique_ids_do_not_overlap_and_show_every_series_an_alert_fires_on()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Directory, "dashboard.json")));
        var panels = dashboard.RootElement.GetProperty("panels").EnumerateArray().ToList();
        var ids = panels.Select(p => p.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());

        var boxes = panels.Select(p => p.GetProperty("gridPos")).Select(g => (X: g.GetProperty("x").GetInt32(), Y: g.GetProperty("y").GetInt32(), W: g.GetProperty("w").GetInt32(), H: g.GetProperty("h").GetInt32())).ToList();
        for (var i = 0; i < boxes.Count; i++)
        {
            Assert.True(boxes[i].X + boxes[i].W <= 24, $"panel {ids[i]} is wider than the grid");
            for (var j = i + 1; j < boxes.Count; j++)
            {
                var overlap = boxes[i].X < boxes[j].X + boxes[j].W && boxes[j].X < boxes[i].X + boxes[i].W && boxes[i].Y < boxes[j].Y + boxes[j].H && boxes[j].Y < boxes[i].Y + boxes[i].H;
                Assert.False(overlap, $"panels {ids[i]} and {ids[j]} overlap");
            }
        }

        var shown = new HashSet<string>(panels.SelectMany(p => p.GetProperty("targets").EnumerateArray()).SelectMany(t => Series(t.GetProperty("expr").GetString()!)));
        var alerted = AlertRules().SelectMany(r => Series(Scalar(r, "expr"))).Distinct().ToList();
        var missing = alerted.Where(s => !shown.Contains(s)).ToList();
        Assert.True(missing.Count == 0, $"alerts fire on series no panel shows: {string.Join(", ", missing)}");
    }

    private static List<YamlMappingNode> AlertRules()
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Directory, "alerts.yaml")))
        {
            yaml.Load(reader);
        }

        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        return [.. ((YamlSequenceNode)root["groups"]).Children.Cast<YamlMappingNode>().SelectMany(g => ((YamlSequenceNode)g["rules"]).Children.Cast<YamlMappingNode>())];
    }

    /// <summary>GitHub's anchors of docs/operations.md's headings: lower case, punctuation dropped, spaces to hyphens.</summary>
    private static HashSet<string> RunbookAnchors() =>
    [
        .. File.ReadLines(Path.Combine(RepositoryPaths.Root, "docs", "operations.md"))
            .Where(l => l.StartsWith('#'))
            .Select(l => AnchorDrop().Replace(l.TrimStart('#').Trim().ToLowerInvariant(), "").Replace(' ', '-')),
    ];

    private static IEnumerable<string> Series(string expr) => SeriesName().Matches(expr).Select(m => m.Value);

    private static string Scalar(YamlMappingNode node, string key) => ((YamlScalarNode)node[key]).Value ?? "";

    private static YamlMappingNode Map(YamlMappingNode node, string key) => (YamlMappingNode)node[key];

    [GeneratedRegex(@"[^a-z0-9 _-]")]
    private static partial Regex AnchorDrop();

    [GeneratedRegex(@"\b(orleansfeatures_[a-z_]+|http_server_request_duration_seconds_(bucket|count))\b")]
    private static partial Regex SeriesName();
}
