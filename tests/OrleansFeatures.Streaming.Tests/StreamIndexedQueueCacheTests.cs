using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Providers.Streams.Common;
using Orleans.Runtime;
using Orleans.Streams;
using OrleansFeatures.Streaming.Kafka;

namespace OrleansFeatures.Streaming.Tests;

public class StreamIndexedQueueCacheTests
{
    private static readonly StreamId A = StreamId.Create("test", "a");
    private static readonly StreamId B = StreamId.Create("test", "b");
    private static readonly StreamId C = StreamId.Create("test", "c");

    private static StreamIndexedQueueCache NewCache(int size = 1_000, int maxEventsPerDelivery = 1) => new(size, NullLogger.Instance, maxEventsPerDelivery);

    // One batch per (stream, offset), token (offset, index) as the receiver makes them.
    private static KafkaBatchContainer Batch(StreamId stream, long offset, int index = 0) => Batch(stream, offset, 1, index);

    private static KafkaBatchContainer Batch(StreamId stream, long offset, int events, int index) =>
        new(stream, [.. Enumerable.Range(0, events).Select(i => (object)$"{stream}@{offset}#{i}")], [offset], new EventSequenceTokenV2(offset, index));

    private static void Add(StreamIndexedQueueCache cache, params KafkaBatchContainer[] batches) => cache.AddToCache(batches);

    private static List<long> Drain(IQueueCacheCursor cursor)
    {
        var offsets = new List<long>();
        while (cursor.MoveNextWithResult() == QueueCacheCursorMoveResult.Success)
        {
            offsets.Add(Current(cursor));
        }

        return offsets;
    }

    private static List<long> Purge(StreamIndexedQueueCache cache) =>
        cache.TryPurgeFromCache(out var purged) ? [.. purged.Cast<KafkaBatchContainer>().Select(b => b.Offsets[0]).Order()] : [];

    private static KafkaBatchContainer Delivered(IQueueCacheCursor cursor) => (KafkaBatchContainer)cursor.GetCurrent(out _)!;

    private static long Current(IQueueCacheCursor cursor) => Delivered(cursor).Offsets[0];

    [Fact]
    public void A_cursor_sees_only_its_own_streams_batches_in_the_order_they_were_added()
    {
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(B, 2), Batch(A, 3), Batch(C, 4), Batch(B, 5, 0), Batch(A, 5, 1));

        Assert.Equal([1, 3, 5], Drain(cache.GetCacheCursor(A, new EventSequenceTokenV2(1))));
        Assert.Equal([2, 5], Drain(cache.GetCacheCursor(B, new EventSequenceTokenV2(2))));
        Assert.Equal([4], Drain(cache.GetCacheCursor(C, new EventSequenceTokenV2(4))));
    }

    [Fact]
    public void A_cursor_created_at_a_token_starts_at_the_batch_with_that_token()
    {
        // The agent places a consumer at the token of its stream's first new batch, and after a handshake moves a
        // cursor made at a processed token until it reaches that token: the start is inclusive.
        var cache = NewCache();
        Add(cache, Batch(A, 10, 0), Batch(B, 10, 1), Batch(A, 11), Batch(A, 12));

        Assert.Equal([10, 11, 12], Drain(cache.GetCacheCursor(A, new EventSequenceTokenV2(10, 0))));
        Assert.Equal([11, 12], Drain(cache.GetCacheCursor(A, new EventSequenceTokenV2(11))));
        Assert.Equal([11, 12], Drain(cache.GetCacheCursor(A, new EventSequenceTokenV2(10, 1))));
        Assert.Equal([10], Drain(cache.GetCacheCursor(B, new EventSequenceTokenV2(10, 1))));
    }

    [Fact]
    public void A_cursor_created_with_a_token_older_than_the_oldest_cached_batch_starts_at_the_oldest_batch_of_its_stream()
    {
        // No cache miss: the agent's answer to a miss is a cursor at the newest position, which would skip the
        // stream's cached batches while the purge still reported them delivered.
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(A, 2));
        var first = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Drain(first);
        Add(cache, Batch(A, 3), Batch(B, 4), Batch(A, 5));
        using var other = cache.GetCacheCursor(B, new EventSequenceTokenV2(4));
        Assert.Equal([1, 2], Purge(cache));

        var late = ((IQueueCache)cache).TryGetCacheCursor(A, new EventSequenceTokenV2(0));

        Assert.Equal(QueueCacheCursorResultKind.Success, late.Kind);
        Assert.Equal([3, 5], Drain(late.Cursor!));
    }

    [Fact]
    public void A_null_token_or_earliest_position_starts_at_the_oldest_cached_batch_and_latest_at_the_next_one()
    {
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(B, 2), Batch(A, 3));
        var latest = ((IQueueCache)cache).TryGetCacheCursorAtPosition(A, StreamSubscriptionStartPosition.Latest).Cursor!;

        Assert.Equal([1, 3], Drain(cache.GetCacheCursor(A, null)));
        Assert.Equal([1, 3], Drain(((IQueueCache)cache).TryGetCacheCursorAtPosition(A, StreamSubscriptionStartPosition.EarliestAvailable).Cursor!));
        Assert.Empty(Drain(latest));
        Add(cache, Batch(A, 4));
        Assert.Equal([4], Drain(latest));
    }

    [Fact]
    public void A_cursor_created_past_the_newest_batch_waits_for_the_first_batch_at_or_after_its_token()
    {
        var cache = NewCache();
        Add(cache, Batch(A, 1));
        var cursor = cache.GetCacheCursor(A, new EventSequenceTokenV2(5));

        Assert.Empty(Drain(cursor));
        Add(cache, Batch(A, 3), Batch(A, 5), Batch(A, 6));
        Assert.Equal([5, 6], Drain(cursor));
    }

    [Fact]
    public void After_MoveNext_returned_false_the_cursor_returns_batches_added_later_with_or_without_Refresh()
    {
        // The agent lets a consumer go idle when MoveNext returns false and wakes it after the next pull with
        // Refresh(first new token) + MoveNext; a cursor that stayed "finished" would stall that stream for good.
        var cache = NewCache();
        Add(cache, Batch(A, 1));
        var refreshed = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        var plain = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Assert.Equal([1], Drain(refreshed));
        Assert.Equal([1], Drain(plain));
        Assert.False(refreshed.MoveNext());

        Add(cache, Batch(B, 2), Batch(A, 3), Batch(A, 4));
        refreshed.Refresh(new EventSequenceTokenV2(3));

        Assert.Equal([3, 4], Drain(refreshed));
        Assert.Equal([3, 4], Drain(plain));
    }

    [Fact]
    public void Refresh_does_not_move_a_cursor_that_is_in_the_middle_of_its_stream()
    {
        // The agent refreshes every registered consumer's cursor after each pull, also one that is busy delivering.
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(A, 2));
        var cursor = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Assert.True(cursor.MoveNext());

        Add(cache, Batch(A, 3));
        cursor.Refresh(new EventSequenceTokenV2(3));

        Assert.Equal(1, Current(cursor));
        Assert.Equal([2, 3], Drain(cursor));
    }

    [Fact]
    public void A_cursor_keeps_its_place_while_its_streams_queue_wraps_grows_and_empties()
    {
        var cache = NewCache();
        var reader = cache.GetCacheCursor(A, null);
        var read = new List<long>();
        long offset = 0;
        foreach (var burst in new[] { 1, 3, 2, 7, 1, 16, 5 })
        {
            for (var i = 0; i < burst; i++)
            {
                Add(cache, Batch(A, offset++));
            }

            // Read all but one, so the queue keeps a batch across bursts and its ring wraps around.
            for (var i = 0; i < burst - 1 && reader.MoveNext(); i++)
            {
                read.Add(Current(reader));
            }

            Purge(cache);
        }

        read.AddRange(Drain(reader));
        Assert.Equal(Enumerable.Range(0, (int)offset).Select(i => (long)i), read);
        Assert.Equal(8, Purge(cache).Count);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_batch_is_purged_only_after_every_cursor_of_its_stream_has_moved_past_it()
    {
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(A, 2));
        var fast = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        var slow = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));

        Assert.True(fast.MoveNext());
        Assert.Empty(Purge(cache)); // batch 1 is being delivered to fast
        Assert.True(fast.MoveNext());
        Assert.False(fast.MoveNext()); // fast is past both
        Assert.Empty(Purge(cache)); // slow has not started

        Assert.True(slow.MoveNext());
        Assert.Empty(Purge(cache)); // batch 1 is being delivered to slow
        Assert.True(slow.MoveNext());
        Assert.Equal([1], Purge(cache));
        Assert.False(slow.MoveNext());
        Assert.Equal([2], Purge(cache));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void The_batch_being_delivered_is_kept_until_the_next_MoveNext_even_when_nothing_follows_it()
    {
        var cache = NewCache();
        Add(cache, Batch(A, 1));
        var cursor = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Assert.True(cursor.MoveNext());

        Assert.Empty(Purge(cache));
        Assert.Equal(1, Current(cursor));
        Assert.False(cursor.MoveNext());
        Assert.Equal([1], Purge(cache));
    }

    [Fact]
    public void A_delivered_batch_is_purged_even_when_older_batches_of_other_streams_are_not()
    {
        // Orleans' SimpleQueueCache purges from the oldest end only, so one slow stream held back every commit.
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(B, 2), Batch(B, 3));
        var slow = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        var fast = cache.GetCacheCursor(B, new EventSequenceTokenV2(2));

        Assert.Equal([2, 3], Drain(fast));
        Assert.Equal([2, 3], Purge(cache));
        Assert.Equal(1, cache.Count);
        Assert.Equal([1], Drain(slow));
        Assert.Equal([1], Purge(cache));
    }

    [Fact]
    public void A_new_streams_batches_are_kept_while_the_agents_registration_pin_holds_them_and_its_consumer_has_not_passed_them()
    {
        // The agent adds a pull, pins each new stream with a cursor at its first batch, registers the stream
        // asynchronously, gives the consumer its own cursor at the same token, then disposes the pin.
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(A, 2));
        var pin = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Assert.Empty(Purge(cache));

        var consumer = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Assert.True(consumer.MoveNext());
        pin.Dispose();
        Assert.Empty(Purge(cache)); // batch 1 is being delivered, batch 2 not yet read

        Assert.True(consumer.MoveNext());
        Assert.Equal([1], Purge(cache));
    }

    [Fact]
    public void Disposing_the_pin_after_the_consumer_passed_every_batch_makes_them_purgeable()
    {
        // The consumer may finish while the pin still exists; the pin's disposal must release the batches, or they
        // stay forever and the cache fills up.
        var cache = NewCache();
        Add(cache, Batch(A, 1));
        var pin = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        var consumer = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Assert.Equal([1], Drain(consumer));
        Assert.Empty(Purge(cache));

        pin.Dispose();

        Assert.Equal([1], Purge(cache));
    }

    [Fact]
    public void Batches_of_a_stream_without_any_cursor_at_purge_time_are_purged_so_the_partition_never_sticks()
    {
        // Nobody will read them: the agent gives every stream it delivers a cursor before it purges again, and a
        // later cursor of the stream starts at a later batch. Orleans' cache purges them too.
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(B, 2));
        var consumer = cache.GetCacheCursor(B, new EventSequenceTokenV2(2));

        Assert.Equal([1], Purge(cache));
        Assert.Equal(1, cache.Count);
        consumer.Dispose();
        Assert.Equal([2], Purge(cache));
        Assert.Equal(0, cache.Count);
        Assert.Equal(0, cache.StreamCount);
    }

    [Fact]
    public void A_failed_delivery_is_purged_once_passed_but_not_reported_delivered()
    {
        var cache = NewCache();
        Add(cache, Batch(A, 1), Batch(A, 2));
        var cursor = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Assert.True(cursor.MoveNext());
        cursor.RecordDeliveryFailure();

        Assert.Equal([2], Drain(cursor));
        Assert.Equal([2], Purge(cache));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_disposed_cursor_returns_nothing_and_holds_nothing()
    {
        var cache = NewCache();
        Add(cache, Batch(A, 1));
        var cursor = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));
        Assert.True(cursor.MoveNext());

        cursor.Dispose();

        Assert.Null(cursor.GetCurrent(out _));
        Assert.Equal(QueueCacheCursorMoveResult.NoData, cursor.MoveNextWithResult());
        Assert.Equal([1], Purge(cache));
    }

    [Fact]
    public void GetMaxAddCount_stays_a_tenth_of_the_size_when_the_cache_is_full_so_the_agent_still_purges()
    {
        // The 10.4.2 agent returns from its pump without reading when GetMaxAddCount() <= 0, and the purge
        // (TryPurgeFromCache, the only way room is made) runs inside that read: a cache that answered "no room left"
        // would never be purged again, and deliveries on the partition would stop for good.
        var cache = NewCache(size: 100);
        Add(cache, [.. Enumerable.Range(0, 100).Select(i => Batch(StreamId.Create("test", $"s{i}"), i))]);

        Assert.Equal(10, cache.GetMaxAddCount());
        Assert.True(cache.IsUnderPressure());
        Assert.Equal(100, Purge(cache).Count);
        Assert.False(cache.IsUnderPressure());
    }

    [Fact]
    public void The_cache_is_under_pressure_exactly_while_a_full_pull_would_not_fit()
    {
        var cache = NewCache(size: 100);
        var consumer = cache.GetCacheCursor(A, null);
        for (var offset = 0; offset < 90; offset++)
        {
            Add(cache, Batch(A, offset));
        }

        Assert.False(cache.IsUnderPressure()); // 90 + a pull of 10 fits
        Add(cache, Batch(A, 90));
        Assert.True(cache.IsUnderPressure());
        Assert.Empty(Purge(cache)); // nothing delivered yet: still under pressure

        Assert.True(consumer.MoveNext());
        Assert.True(consumer.MoveNext());
        Assert.Equal([0], Purge(cache));
        Assert.False(cache.IsUnderPressure());
    }

    [Fact]
    public void A_cursor_steps_only_over_its_own_streams_batches_however_many_other_streams_are_cached()
    {
        // 20,000 batches of 10,000 streams, as a backlog pull makes them; each stream's cursor reads its two.
        var cache = NewCache(size: 262_144);
        var streams = Enumerable.Range(0, 10_000).Select(i => StreamId.Create("test", $"s{i}")).ToArray();
        var batches = new List<IBatchContainer>();
        for (var round = 0; round < 2; round++)
        {
            batches.AddRange(streams.Select((s, i) => Batch(s, (round * streams.Length) + i)));
        }

        cache.AddToCache(batches);
        var read = 0;
        foreach (var (stream, i) in streams.Select((s, i) => (s, i)))
        {
            var cursor = cache.GetCacheCursor(stream, new EventSequenceTokenV2(i));
            read += Drain(cursor).Count;
        }

        Assert.Equal(20_000, read);
        Assert.Equal(20_000, Purge(cache).Count);
    }

    [Fact]
    public void A_stream_that_fell_behind_gets_its_queued_batches_in_one_delivery_in_order_with_the_last_token()
    {
        var cache = NewCache(maxEventsPerDelivery: 100);
        KafkaBatchContainer a1 = Batch(A, 1), a3 = Batch(A, 3, 2, 0), a4 = Batch(A, 4, 0);
        Add(cache, a1, Batch(B, 2), a3, a4, Batch(B, 4, 1));
        var cursor = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));

        Assert.True(cursor.MoveNext());
        var delivery = Delivered(cursor);
        Assert.Equal([.. a1.Events, .. a3.Events, .. a4.Events], delivery.Events);
        Assert.Equal([1, 3, 4], delivery.Offsets);
        Assert.Equal(a4.SequenceToken, delivery.SequenceToken);
        Assert.Equal(A, delivery.StreamId);
        Assert.False(cursor.MoveNext());
    }

    [Fact]
    public void A_single_batch_is_delivered_as_it_is()
    {
        var cache = NewCache(maxEventsPerDelivery: 100);
        var a1 = Batch(A, 1);
        Add(cache, a1, Batch(B, 2));
        var cursor = cache.GetCacheCursor(A, new EventSequenceTokenV2(1));

        Assert.True(cursor.MoveNext());
        Assert.Same(a1, cursor.GetCurrent(out _));
    }

    [Fact]
    public void A_joined_delivery_never_exceeds_the_event_limit_and_a_larger_batch_goes_alone()
    {
        var cache = NewCache(maxEventsPerDelivery: 5);
        Add(cache, Batch(A, 1, 2, 0), Batch(A, 2, 3, 0), Batch(A, 3, 1, 0), Batch(A, 4, 9, 0), Batch(A, 5, 1, 0));
        var cursor = cache.GetCacheCursor(A, null);

        var deliveries = new List<string>();
        while (cursor.MoveNext())
        {
            deliveries.Add($"offsets {string.Join(',', Delivered(cursor).Offsets)}: {Delivered(cursor).Events.Count} events");
        }

        Assert.Equal(["offsets 1,2: 5 events", "offsets 3: 1 events", "offsets 4: 9 events", "offsets 5: 1 events"], deliveries);
    }

    [Fact]
    public void Every_joined_batch_is_kept_until_the_delivery_is_over_and_then_each_is_reported_delivered()
    {
        var cache = NewCache(maxEventsPerDelivery: 100);
        Add(cache, Batch(A, 1), Batch(A, 2), Batch(A, 3));
        var cursor = cache.GetCacheCursor(A, null);

        Assert.True(cursor.MoveNext());
        Assert.Empty(Purge(cache));
        Add(cache, Batch(A, 4));
        Assert.Empty(Purge(cache));

        // The next MoveNext is the agent's signal that the joined delivery is over; the batch added meanwhile is next.
        Assert.True(cursor.MoveNext());
        Assert.Equal([4], Delivered(cursor).Offsets);
        Assert.Equal([1, 2, 3], Purge(cache));
        Assert.False(cursor.MoveNext());
        Assert.Equal([4], Purge(cache));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_failed_joined_delivery_reports_none_of_its_batches_delivered()
    {
        var cache = NewCache(maxEventsPerDelivery: 100);
        Add(cache, Batch(A, 1), Batch(A, 2), Batch(B, 3));
        var cursor = cache.GetCacheCursor(A, null);
        var other = cache.GetCacheCursor(B, null);

        Assert.True(cursor.MoveNext());
        cursor.RecordDeliveryFailure();
        Assert.False(cursor.MoveNext());
        Assert.True(other.MoveNext());
        Assert.False(other.MoveNext());

        Assert.Equal([3], Purge(cache));
        Assert.Equal(0, cache.Count);
    }
}
