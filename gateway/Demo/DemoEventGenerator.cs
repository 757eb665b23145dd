using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using OrleansFeatures.Core.Events;
using OrleansFeatures.Grains.Diagnostics;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Ingestion;
using OrleansFeatures.Grains.Interfaces;

namespace OrleansFeatures.Gateway.Demo;

/// <summary>Settings of the demo generator (<c>--demo</c> or <c>FeatureStore:Demo:Enabled=true</c>).</summary>
public sealed class DemoOptions
{
    public const string Section = "FeatureStore:Demo";

    public bool Enabled { get; set; }

    /// <summary>Folder of definition files applied at start when the registry is empty.</summary>
    public string DefinitionsPath { get; set; } = Path.Combine(AppContext.BaseDirectory, "definitions");

    [Range(1, 1_000_000)]
    public int EventsPerSecond { get; set; } = 200;

    [Range(1, 10_000_000)]
    public int Users { get; set; } = 500;

    [Range(1, 1_000_000)]
    public int Content { get; set; } = 100;

    [Range(1, 10_000)]
    public int Games { get; set; } = 12;
}

/// <summary>
/// Pushes realistic sports-media events (engagement, live scores, betting odds) through the same
/// <see cref="EventRouter"/> the push API uses, so the quickstart shows features changing live.
/// </summary>
public sealed partial class DemoEventGenerator(
    IOptions<DemoOptions> options,
    IGrainFactory grainFactory,
    EventRouter router,
    TimeProvider timeProvider,
    IHostApplicationLifetime lifetime,
    ILogger<DemoEventGenerator> logger) : BackgroundService
{
    private static readonly string[] Sports = ["football", "basketball", "tennis", "cricket", "rugby", "f1"];
    private static readonly string[] ContentTypes = ["article", "video", "live_game"];
    private static readonly string[] Kinds = ["view", "view", "view", "click", "click", "share", "bet"];
    private static readonly string[] Bookmakers = ["northbet", "oddsline", "kickoff"];

    private readonly Random _random = new(42);
    private readonly Dictionary<int, GameScore> _games = [];
    private long _sequence;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return;
        }

        // Hosted services start together: the silo must have joined before the registry grain is called.
        await HostStart.WaitAsync(lifetime, stoppingToken);
        await ApplyDefinitionsAsync(settings, stoppingToken);
        var ticksPerSecond = 10;
        var perTick = Math.Max(1, settings.EventsPerSecond / ticksPerSecond);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1000 / ticksPerSecond), timeProvider);
        var sent = 0L;
        var accepted = 0L;
        var failed = 0L;
        var lastReport = Stopwatch.GetTimestamp();
        LogStarted(logger, settings.EventsPerSecond, settings.Users, settings.Games);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var nowMs = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
                var engagement = new RawEvent[perTick];
                for (var i = 0; i < perTick; i++)
                {
                    engagement[i] = Engagement(settings, nowMs);
                }

                accepted += Count(await router.RouteAsync("engagement-events", engagement, stoppingToken));
                sent += engagement.Length;

                var game = _random.Next(settings.Games);
                RawEvent[] gameEvents = [Score(game, nowMs)];
                accepted += Count(await router.RouteAsync("game-score-events", gameEvents, stoppingToken));
                RawEvent[] oddsEvents = [Odds(game, nowMs)];
                accepted += Count(await router.RouteAsync("betting-odds-events", oddsEvents, stoppingToken));
                sent += 2;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception)
            {
                failed++;
                FeatureStoreMetrics.BackgroundFailures.Add(1);
                LogTickFailed(logger, exception, failed);
            }

            if (Stopwatch.GetElapsedTime(lastReport) >= TimeSpan.FromSeconds(10))
            {
                LogProgress(logger, sent, accepted, failed);
                lastReport = Stopwatch.GetTimestamp();
            }
        }

        LogStopped(logger, sent, accepted);
    }

    private async Task ApplyDefinitionsAsync(DemoOptions settings, CancellationToken cancellationToken)
    {
        var registry = grainFactory.GetGrain<IRegistryGrain>(IRegistryGrain.DefaultKey);
        // The silo starts alongside this service; retry until the registry answers.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (await registry.GetVersion() > 0)
                {
                    return;
                }

                break;
            }
            catch (Exception exception) when (attempt < 30 && !cancellationToken.IsCancellationRequested)
            {
                LogWaitingForSilo(logger, exception.GetType().Name, attempt);
                await Task.Delay(TimeSpan.FromSeconds(1), timeProvider, cancellationToken);
            }
        }

        var documents = new List<DefinitionDocumentDto>();
        foreach (var path in Directory.GetFiles(settings.DefinitionsPath, "*.yaml").Order(StringComparer.Ordinal))
        {
            documents.Add(new DefinitionDocumentDto(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken)));
        }

        var result = await registry.Apply(documents, dryRun: false);
        if (!result.Applied)
        {
            var reasons = string.Join("; ", result.Errors.Select(e => e.Text).Concat(result.Rejections));
            throw new InvalidOperationException($"demo definitions in {settings.DefinitionsPath} were not applied: {reasons}");
        }

        LogDefinitionsApplied(logger, documents.Count, result.Version);
    }

    private static int Count(RoutedEventResult[] results)
    {
        var accepted = 0;
        foreach (var result in results)
        {
            if (result.Status == RoutedEventStatus.Accepted)
            {
                accepted++;
            }
        }

        return accepted;
    }

    private RawEvent Engagement(DemoOptions settings, long nowMs)
    {
        // A few users and items are far more active than the rest, as in real traffic.
        var user = (int)(settings.Users * Math.Pow(_random.NextDouble(), 2));
        var content = (int)(settings.Content * Math.Pow(_random.NextDouble(), 2));
        var contentType = ContentTypes[content % ContentTypes.Length];
        var kind = Kinds[_random.Next(Kinds.Length)];
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal)
        {
            ["user_id"] = ScalarValue.FromString($"u{user}"),
            ["content_id"] = ScalarValue.FromString($"c{content}"),
            ["content_type"] = ScalarValue.FromString(contentType),
            ["kind"] = ScalarValue.FromString(kind),
            ["sport"] = ScalarValue.FromString(Sports[content % Sports.Length]),
            ["watch_seconds"] = ScalarValue.FromDouble(kind == "view" && contentType != "article" ? Math.Round(_random.NextDouble() * 600, 1) : 0),
        };
        return new RawEvent($"demo-{nowMs}-{++_sequence}", nowMs - _random.Next(2_000), fields);
    }

    private RawEvent Score(int game, long nowMs)
    {
        if (!_games.TryGetValue(game, out var score))
        {
            score = new GameScore();
            _games[game] = score;
        }

        score.Minute = Math.Min(score.Minute + 1, 90);
        if (_random.NextDouble() < 0.08) score.Home++;
        if (_random.NextDouble() < 0.06) score.Away++;
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal)
        {
            ["game_id"] = ScalarValue.FromString($"g{game}"),
            ["home_score"] = ScalarValue.FromInt64(score.Home),
            ["away_score"] = ScalarValue.FromInt64(score.Away),
            ["minute"] = ScalarValue.FromInt64(score.Minute),
            ["status"] = ScalarValue.FromString(score.Minute >= 90 ? "finished" : "live"),
        };
        return new RawEvent($"score-{nowMs}-{++_sequence}", nowMs, fields);
    }

    private RawEvent Odds(int game, long nowMs)
    {
        var score = _games.GetValueOrDefault(game) ?? new GameScore();
        var lead = score.Home - score.Away;
        var home = Math.Round(Math.Clamp(2.4 - (0.6 * lead) + ((_random.NextDouble() - 0.5) * 0.3), 1.05, 15), 2);
        var away = Math.Round(Math.Clamp(2.9 + (0.6 * lead) + ((_random.NextDouble() - 0.5) * 0.3), 1.05, 15), 2);
        var fields = new Dictionary<string, ScalarValue>(StringComparer.Ordinal)
        {
            ["game_id"] = ScalarValue.FromString($"g{game}"),
            ["home_win_odds"] = ScalarValue.FromDouble(home),
            ["draw_odds"] = ScalarValue.FromDouble(Math.Round(3.1 + ((_random.NextDouble() - 0.5) * 0.4), 2)),
            ["away_win_odds"] = ScalarValue.FromDouble(away),
            ["bookmaker"] = ScalarValue.FromString(Bookmakers[_random.Next(Bookmakers.Length)]),
        };
        return new RawEvent($"odds-{nowMs}-{++_sequence}", nowMs, fields);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo definitions applied: {Documents} documents, registry version {Version}")]
    private static partial void LogDefinitionsApplied(ILogger logger, int documents, long version);

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo generator started: {Rate} engagement events/s over {Users} users and {Games} live games")]
    private static partial void LogStarted(ILogger logger, int rate, int users, int games);

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo generator: {Sent} events sent, {Accepted} accepted, {Failed} failed ticks")]
    private static partial void LogProgress(ILogger logger, long sent, long accepted, long failed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Demo generator tick failed ({Failed} so far); continuing")]
    private static partial void LogTickFailed(ILogger logger, Exception exception, long failed);

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo generator waiting for the silo ({Error}, attempt {Attempt})")]
    private static partial void LogWaitingForSilo(ILogger logger, string error, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Demo generator stopped after {Sent} events ({Accepted} accepted)")]
    private static partial void LogStopped(ILogger logger, long sent, long accepted);

    private sealed class GameScore
    {
        public int Home { get; set; }

        public int Away { get; set; }

        public int Minute { get; set; }
    }
}
