namespace OrleansFeatures.Core.Definitions;

/// <summary>Chooses the tile (bucket) width of a windowed feature when its definition does not say.</summary>
public static class TileRule
{
    private static readonly TimeSpan[] Candidates =
    [
        TimeSpan.FromHours(6), TimeSpan.FromHours(3), TimeSpan.FromHours(2), TimeSpan.FromHours(1),
        TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(1),
        TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1),
    ];

    /// <summary>
    /// The largest of 1s, 5s, 10s, 15s, 30s, 1m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h that divides the window and is at
    /// most a sixtieth of it (so a window edge is off by at most ~1.7% of the window); 1s when none qualifies.
    /// </summary>
    public static TimeSpan DefaultTileFor(TimeSpan window)
    {
        foreach (var tile in Candidates)
        {
            if (tile.Ticks * 60 <= window.Ticks && window.Ticks % tile.Ticks == 0)
            {
                return tile;
            }
        }

        return TimeSpan.FromSeconds(1);
    }
}
