using System.CommandLine;
using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace OrleansFeatures.Cli.Commands;

/// <summary>
/// <c>generate --sports-media</c>: history that fits <c>examples/definitions</c> (the <c>engagement-events</c>
/// source and <c>ranker_v3</c>), so the README's product-team flow runs as written. Users are <c>fan-N</c> and content
/// <c>hist-N</c>, never the demo generator's <c>uN</c>/<c>cN</c>, whose live events would make history LATE; events
/// are in time order over the last two days, so one backfill applies every one of them.
/// </summary>
internal static class SportsMediaHistory
{
    public const string EventsFile = "engagement-events.parquet";
    public const string LabelsFile = "labels.parquet";

    private const long DefaultEvents = 20_000;
    private const int DefaultUsers = 200;
    private const long DefaultRows = 1_000;

    private static readonly string[] Sports = ["football", "basketball", "tennis", "cricket", "rugby", "f1"];
    private static readonly string[] ContentTypes = ["article", "video", "live_game"];
    private static readonly string[] Kinds = ["view", "view", "view", "click", "click", "share", "bet"];

    public static async Task<int> WriteAsync(
        CliOutput cli, string path, ParseResult parse, Option<long> events, Option<int> users, Option<long> rows, CancellationToken cancellationToken)
    {
        var eventCount = parse.GetResult(events) is { Implicit: false } ? parse.GetValue(events) : DefaultEvents;
        var userCount = parse.GetResult(users) is { Implicit: false } ? parse.GetValue(users) : DefaultUsers;
        var rowCount = parse.GetResult(rows) is { Implicit: false } ? parse.GetValue(rows) : DefaultRows;
        if (eventCount is < 1 or > 10_000_000 || userCount < 1 || rowCount is < 1 or > 10_000_000)
        {
            throw new ArgumentException("--events and --rows must be between 1 and 10000000, --users at least 1");
        }

        // Ends a minute ago: inside every view's TTL, and never ahead of the store's clock.
        var end = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds();
        var start = end - (2 * 86_400_000L);
        var random = new Random(23);
        await WriteEventsAsync(Path.Combine(path, EventsFile), eventCount, userCount, start, end, random, cancellationToken);
        await WriteLabelsAsync(Path.Combine(path, LabelsFile), rowCount, userCount, start, end, random, cancellationToken);
        cli.Line(string.Create(CultureInfo.InvariantCulture,
            $"wrote {path}/{EventsFile} ({eventCount:N0} events of {userCount:N0} users fan-0…, source engagement-events) and {path}/{LabelsFile} ({rowCount:N0} rows) for examples/definitions"));
        return ExitCodes.Success;
    }

    private static async Task WriteEventsAsync(string file, long count, int users, long start, long end, Random random, CancellationToken cancellationToken)
    {
        var schema = new ParquetSchema(
            new DataField<string>("event_id"),
            new DataField<long>("ts"),
            new DataField<string>("user_id"),
            new DataField<string>("content_id"),
            new DataField<string>("content_type"),
            new DataField<string>("kind"),
            new DataField<string>("sport"),
            new DataField<double>("watch_seconds"));
        var times = new long[count];
        for (var i = 0; i < times.Length; i++)
        {
            times[i] = start + (long)(random.NextDouble() * (end - start));
        }

        Array.Sort(times);
        var ids = new string[count];
        var keys = new string[count];
        var contents = new string[count];
        var types = new string[count];
        var kinds = new string[count];
        var sports = new string[count];
        var seconds = new double[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = "hist-" + i.ToString(CultureInfo.InvariantCulture);
            keys[i] = "fan-" + random.Next(users).ToString(CultureInfo.InvariantCulture);
            contents[i] = "hist-" + random.Next(500).ToString(CultureInfo.InvariantCulture);
            types[i] = ContentTypes[random.Next(ContentTypes.Length)];
            kinds[i] = Kinds[random.Next(Kinds.Length)];
            sports[i] = Sports[random.Next(Sports.Length)];
            seconds[i] = types[i] == "article" ? 0 : Math.Round(random.NextDouble() * 600, 1);
        }

        await using var stream = File.Create(file);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync(schema.DataFields[0], ids, null);
        await group.WriteAsync<long>(schema.DataFields[1], times.AsMemory(), null, null, cancellationToken);
        await group.WriteAsync(schema.DataFields[2], keys, null);
        await group.WriteAsync(schema.DataFields[3], contents, null);
        await group.WriteAsync(schema.DataFields[4], types, null);
        await group.WriteAsync(schema.DataFields[5], kinds, null);
        await group.WriteAsync(schema.DataFields[6], sports, null);
        await group.WriteAsync<double>(schema.DataFields[7], seconds.AsMemory(), null, null, cancellationToken);
    }

    private static async Task WriteLabelsAsync(string file, long count, int users, long start, long end, Random random, CancellationToken cancellationToken)
    {
        var schema = new ParquetSchema(new DataField<string>("user_id"), new DataField<long>("event_timestamp"), new DataField<long>("clicked"));
        var keys = new string[count];
        var times = new long[count];
        var labels = new long[count];
        for (var i = 0; i < count; i++)
        {
            keys[i] = "fan-" + random.Next(users).ToString(CultureInfo.InvariantCulture);
            times[i] = start + (long)(random.NextDouble() * (end - start));
            labels[i] = random.Next(2);
        }

        await using var stream = File.Create(file);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: cancellationToken);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync(schema.DataFields[0], keys, null);
        await group.WriteAsync<long>(schema.DataFields[1], times.AsMemory(), null, null, cancellationToken);
        await group.WriteAsync<long>(schema.DataFields[2], labels.AsMemory(), null, null, cancellationToken);
    }
}
