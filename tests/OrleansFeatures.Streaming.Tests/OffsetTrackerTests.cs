using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Streaming.Tests;

public class OffsetTrackerTests
{
    [Fact]
    public void Commit_point_advances_only_over_a_fully_delivered_prefix()
    {
        var tracker = new OffsetTracker();
        tracker.Track(10, 1);
        tracker.Track(11, 2);
        tracker.Track(12, 1);

        tracker.Delivered(12);
        Assert.Null(tracker.Committable);
        tracker.Delivered(10);
        Assert.Equal(11, tracker.Committable);
        tracker.Delivered(11);
        Assert.Equal(11, tracker.Committable);
        tracker.Delivered(11);
        Assert.Equal(13, tracker.Committable);
    }

    [Fact]
    public void Messages_with_nothing_to_deliver_are_done_at_once()
    {
        var tracker = new OffsetTracker();
        tracker.Track(0, 0);
        tracker.Track(1, 0);

        Assert.Equal(2, tracker.Committable);
        Assert.Equal(0, tracker.InFlight);
    }

    [Fact]
    public void A_failed_offset_blocks_commits_at_it_forever()
    {
        var tracker = new OffsetTracker();
        tracker.Track(5, 1);
        tracker.Track(6, 1);
        tracker.Block(6);

        tracker.Delivered(5);
        tracker.Delivered(6);

        Assert.Equal(6, tracker.Committable);
        Assert.True(tracker.IsBlocked);
    }
}
