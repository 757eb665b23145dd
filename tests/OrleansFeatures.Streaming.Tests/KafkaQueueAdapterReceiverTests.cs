using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Logging.Abstractions;
using Orleans.Runtime;
using Orleans.Streams;
using OrleansFeatures.Streaming.Kafka;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Streaming.Tests;

public class KafkaQueueAdapterReceiverTests
{
    [Fact]
    public async Task A_pull_never_returns_more_containers_than_asked_for_when_messages_feed_several_streams()
    {
        // The pulling agent asks for no more than its cache has room for; returning more overflowed the cache,
        // dropped the surplus and stalled offset commits for good (found by the ingestion benchmark).
        const string topic = "fan-out";
        using var kafka = new MockKafkaCluster();
        var busiest = await ProduceToBusiestPartitionAsync(kafka, topic, messages: 50);
        var options = Options(kafka, topic);
        var (receiver, deadLetters) = await StartAsync(options, new TopicPartition(topic, busiest.Key), new FanOutMapper(streamsPerMessage: 3));
        using var _ = deadLetters;

        var seen = new List<StreamId>();
        await PullUntilAsync(receiver, maxCount: 4, () => seen.Count >= busiest.Count() * 3, batch =>
        {
            Assert.InRange(batch.Count, 0, 4);
            seen.AddRange(batch.Select(c => c.StreamId));
        });

        await receiver.Shutdown(TimeSpan.FromSeconds(10));
        var expected = busiest.SelectMany(m => Enumerable.Range(0, 3).Select(s => FanOutMapper.Stream(Encoding.UTF8.GetString(m.Message.Key!), s)));
        Assert.Equal(expected.Order(), seen.Order());
        Assert.Equal(busiest.Max(m => m.Offset.Value) + 1, Committed(kafka, topic, busiest.Key));
    }

    [Fact]
    public async Task The_consume_thread_runs_ConsumeThreadNice_steps_below_the_thread_that_started_it()
    {
        Assert.True(ThreadNice.IsSupported, "these tests run on Linux");
        const string topic = "niced";
        using var kafka = new MockKafkaCluster();
        await ProduceToBusiestPartitionAsync(kafka, topic, messages: 1);
        var options = Options(kafka, topic);
        options.ConsumeThreadNice = 6;
        var own = ThreadNice.Read(ThreadNice.CurrentThreadId());
        var (receiver, deadLetters) = await StartAsync(options, new TopicPartition(topic, 0), new FanOutMapper(streamsPerMessage: 1));
        using var _ = deadLetters;

        // The kernel keeps a thread's name to 15 bytes: "kafka-niced-0".
        var consumeThreads = Directory.GetDirectories("/proc/self/task")
            .Where(task => ThreadName(task) == $"kafka-{topic}-0")
            .Select(task => ThreadNice.Read(int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)))
            .ToList();
        await receiver.Shutdown(TimeSpan.FromSeconds(10));

        Assert.NotNull(own);
        Assert.Equal([Math.Min(ThreadNice.Max, own.Value + 6)], consumeThreads);
    }

    /// <summary>A thread's name, or null once it has exited (the task folder goes between listing and reading it).</summary>
    private static string? ThreadName(string task)
    {
        try
        {
            return File.ReadAllText(Path.Combine(task, "comm")).Trim();
        }
        catch (Exception exception) when (exception is DirectoryNotFoundException or FileNotFoundException)
        {
            return null;
        }
    }

    [Fact]
    public async Task A_full_buffer_pauses_the_partition_and_every_message_still_arrives_once_in_order()
    {
        const string topic = "back-pressure";
        using var kafka = new MockKafkaCluster();
        var busiest = await ProduceToBusiestPartitionAsync(kafka, topic, messages: 120);
        var options = Options(kafka, topic);
        options.BufferedMessagesPerPartition = 10;
        options.MaxMessagesPerPull = 7;
        using var pauses = new KafkaCounter("orleansfeatures.kafka.partition.pauses");

        var (receiver, deadLetters) = await StartAsync(options, new TopicPartition(topic, busiest.Key), new FanOutMapper(streamsPerMessage: 1));
        using var _ = deadLetters;
        await Task.Delay(500); // let the consume thread fill the buffer and pause the partition

        var seen = new List<StreamId>();
        await PullUntilAsync(receiver, maxCount: 1_000, () => seen.Count >= busiest.Count(), batch =>
        {
            Assert.InRange(batch.Count, 0, options.MaxMessagesPerPull);
            seen.AddRange(batch.Select(c => c.StreamId));
        });

        await receiver.Shutdown(TimeSpan.FromSeconds(10));
        Assert.Equal(busiest.OrderBy(m => m.Offset.Value).Select(m => FanOutMapper.Stream(Encoding.UTF8.GetString(m.Message.Key!), 0)), seen);
        Assert.True(pauses.Total > 0, "the partition was never paused although its buffer holds 10 messages");
        Assert.Equal(busiest.Max(m => m.Offset.Value) + 1, Committed(kafka, topic, busiest.Key));
    }

    [Fact]
    public async Task Messages_the_broker_deleted_before_they_were_read_are_counted_and_the_rest_arrive()
    {
        // The mock broker keeps the newest ~5 MB of a partition, like a short retention: a consumer whose committed
        // offset fell below that is reset to the oldest message held. That loss happens at the source; the receiver
        // must not hide it (librdkafka only logs it, which was at Debug before).
        const string topic = "short-retention";
        using var kafka = new MockKafkaCluster();
        var partition = new TopicPartition(topic, 0);
        var value = new byte[1_024];
        await kafka.Producer.ProduceAsync(partition, new Message<byte[]?, byte[]?> { Key = "k"u8.ToArray(), Value = value });
        using (var committer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "receiver-test" }).Build())
        {
            committer.Commit([new TopicPartitionOffset(partition, 1)]);
        }

        for (var i = 0; i < 8_000; i++)
        {
            kafka.Producer.Produce(partition, new Message<byte[]?, byte[]?> { Key = "k"u8.ToArray(), Value = value });
        }

        kafka.Producer.Flush(TimeSpan.FromSeconds(30));
        WatermarkOffsets held;
        using (var probe = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "probe" }).Build())
        {
            held = probe.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
        }

        Assert.True(held.Low.Value > 1, $"the mock broker kept every message ({held.Low}..{held.High}); the test needs it to drop some");
        using var skipped = new KafkaCounter("orleansfeatures.kafka.offsets.skipped");

        var (receiver, deadLetters) = await StartAsync(Options(kafka, topic), partition, new FanOutMapper(streamsPerMessage: 1));
        using var _ = deadLetters;
        var offsets = new List<long>();
        await PullUntilAsync(receiver, maxCount: 10_000, () => offsets.Count >= held.High.Value - held.Low.Value,
            batch => offsets.AddRange(batch.Cast<KafkaBatchContainer>().SelectMany(c => c.Offsets)));

        await receiver.Shutdown(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range((int)held.Low.Value, (int)(held.High.Value - held.Low.Value)).Select(o => (long)o), offsets.Order());
        Assert.Equal(held.Low.Value - 1, skipped.Total);
        Assert.Equal(held.High.Value, Committed(kafka, topic, 0));
    }

    [Fact]
    public async Task A_mapper_cut_short_by_shutdown_leaves_its_message_uncommitted_instead_of_dead_lettering_it()
    {
        // Seen when a gateway failed to start: the host disposed its services while the agents still pulled, the
        // mapper threw ObjectDisposedException, and the first message of every partition went to the dead-letter
        // topic with its offset committed: valid events moved out of the stream.
        const string topic = "interrupted";
        using var kafka = new MockKafkaCluster();
        var busiest = await ProduceToBusiestPartitionAsync(kafka, topic, messages: 20);
        var options = Options(kafka, topic);
        options.DeadLetterTopic = "interrupted-dead";
        using var deadLettered = new KafkaCounter("orleansfeatures.kafka.messages.dead_lettered");
        using var interrupted = new KafkaCounter("orleansfeatures.kafka.mapper.interrupted");
        var (receiver, deadLetters) = await StartAsync(options, new TopicPartition(topic, busiest.Key), new FanOutMapper(streamsPerMessage: 1) { FailuresLeft = 3 });
        using var _ = deadLetters;

        var seen = new List<StreamId>();
        await PullUntilAsync(receiver, maxCount: 1_000, () => seen.Count >= busiest.Count(), batch => seen.AddRange(batch.Select(c => c.StreamId)));

        await receiver.Shutdown(TimeSpan.FromSeconds(10));
        Assert.Equal(busiest.OrderBy(m => m.Offset.Value).Select(m => FanOutMapper.Stream(Encoding.UTF8.GetString(m.Message.Key!), 0)), seen);
        Assert.Equal(0, deadLettered.Total);
        Assert.Equal(3, interrupted.Total);
        Assert.Equal(busiest.Max(m => m.Offset.Value) + 1, Committed(kafka, topic, busiest.Key));
    }

    [Fact]
    public async Task The_uncommitted_gauge_counts_messages_until_their_delivery_is_committed()
    {
        const string topic = "lag";
        using var kafka = new MockKafkaCluster();
        var busiest = await ProduceToBusiestPartitionAsync(kafka, topic, messages: 30);
        var (receiver, deadLetters) = await StartAsync(Options(kafka, topic), new TopicPartition(topic, busiest.Key), new FanOutMapper(streamsPerMessage: 1));
        using var _ = deadLetters;

        // Everything read, nothing delivered: the whole partition is uncommitted.
        var pulled = new List<IBatchContainer>();
        await PullUntilAsync(receiver, maxCount: 1_000, () => pulled.Count >= busiest.Count(), pulled.AddRange, deliver: false);

        Assert.True(await WaitForUncommittedAsync(topic, busiest.Key, busiest.Count()), $"the gauge never read {busiest.Count()}");

        await receiver.MessagesDeliveredAsync(pulled, CancellationToken.None);
        Assert.True(await WaitForUncommittedAsync(topic, busiest.Key, 0), "the gauge never fell to 0 after every message was delivered");
        await receiver.Shutdown(TimeSpan.FromSeconds(10));
        Assert.Null(ObserveUncommitted(topic, busiest.Key));
    }

    private static async Task<bool> WaitForUncommittedAsync(string topic, int partition, long expected)
    {
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10); DateTime.UtcNow < deadline; await Task.Delay(50))
        {
            if (ObserveUncommitted(topic, partition) == expected)
            {
                return true;
            }
        }

        return false;
    }

    // One collection of the uncommitted gauge for one partition; null when no live receiver reports it.
    private static long? ObserveUncommitted(string topic, int partition)
    {
        long? value = null;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == KafkaStreamMetrics.MeterName && instrument.Name == "orleansfeatures.kafka.partition.uncommitted")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, measurement, tags, _) =>
        {
            string? t = null;
            int? p = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "topic") t = tag.Value as string;
                if (tag.Key == "partition") p = tag.Value as int?;
            }

            if (t == topic && p == partition)
            {
                value = measurement;
            }
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return value;
    }

    [Fact]
    public async Task A_held_gate_keeps_delivered_batches_uncommitted_until_the_consumer_reports_them_durable()
    {
        const string topic = "gated";
        using var kafka = new MockKafkaCluster();
        var partition = new TopicPartition(topic, 0);
        await ProduceToAsync(kafka, partition, 0, 20);
        var gates = new StreamCommitGates();
        var (receiver, deadLetters) = await StartAsync(Options(kafka, topic), partition, new PartitionMapper(), gates);
        using var _ = deadLetters;

        var first = await PullAsync(receiver, expected: 20);
        Assert.True(gates.TryGet(PartitionMapper.Stream, out var gate));
        gate.Hold();
        await receiver.MessagesDeliveredAsync(first, CancellationToken.None);
        await IdleAsync(receiver);
        Assert.Equal(Offset.Unset.Value, Committed(kafka, topic, 0));

        gate.Durable(first.Max(c => c.SequenceToken.SequenceNumber));
        await Poll.UntilAsync(async () => { await IdleAsync(receiver); return Committed(kafka, topic, 0); }, c => c == 20, TimeSpan.FromSeconds(20), "offset 20 committed");

        // Released: later deliveries are committable as soon as delivered.
        gate.Release();
        await ProduceToAsync(kafka, partition, 20, 5);
        var second = await PullAsync(receiver, expected: 5);
        await receiver.MessagesDeliveredAsync(second, CancellationToken.None);
        await Poll.UntilAsync(async () => { await IdleAsync(receiver); return Committed(kafka, topic, 0); }, c => c == 25, TimeSpan.FromSeconds(20), "offset 25 committed");
        await receiver.Shutdown(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_failed_gate_stops_commits_before_the_first_batch_it_did_not_report_durable()
    {
        const string topic = "gate-failed";
        using var kafka = new MockKafkaCluster();
        var partition = new TopicPartition(topic, 0);
        await ProduceToAsync(kafka, partition, 0, 10);
        var gates = new StreamCommitGates();
        var (receiver, deadLetters) = await StartAsync(Options(kafka, topic), partition, new PartitionMapper(), gates);
        using var _ = deadLetters;

        var first = await PullAsync(receiver, expected: 10);
        Assert.True(gates.TryGet(PartitionMapper.Stream, out var gate));
        gate.Hold();
        await receiver.MessagesDeliveredAsync(first, CancellationToken.None);
        gate.Durable(first.Max(c => c.SequenceToken.SequenceNumber));
        await Poll.UntilAsync(async () => { await IdleAsync(receiver); return Committed(kafka, topic, 0); }, c => c == 10, TimeSpan.FromSeconds(20), "offset 10 committed");

        await ProduceToAsync(kafka, partition, 10, 10);
        var lost = await PullAsync(receiver, expected: 10);
        await receiver.MessagesDeliveredAsync(lost, CancellationToken.None);
        gate.Fail();
        await ProduceToAsync(kafka, partition, 20, 10);
        var later = await PullAsync(receiver, expected: 10);
        await receiver.MessagesDeliveredAsync(later, CancellationToken.None);
        gate.Durable(later.Max(c => c.SequenceToken.SequenceNumber));
        await IdleAsync(receiver);
        await receiver.Shutdown(TimeSpan.FromSeconds(10));

        Assert.Equal(10, Committed(kafka, topic, 0));
    }

    private static async Task ProduceToAsync(MockKafkaCluster kafka, TopicPartition partition, int from, int count)
    {
        for (var i = from; i < from + count; i++)
        {
            await kafka.Producer.ProduceAsync(partition, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes($"k{i}"), Value = "{}"u8.ToArray() });
        }
    }

    // Pulls (without reporting delivery) until the pulls hold this many events.
    private static async Task<List<IBatchContainer>> PullAsync(KafkaQueueAdapterReceiver receiver, int expected)
    {
        var pulled = new List<IBatchContainer>();
        var events = 0;
        await PullUntilAsync(receiver, 1_000, () => events >= expected, batch =>
        {
            pulled.AddRange(batch);
            events += batch.Sum(c => ((KafkaBatchContainer)c).Events.Count);
        }, deliver: false);
        Assert.Equal(expected, events);
        return pulled;
    }

    // Empty pulls, as the agent makes every 10 ms: they apply what gates reported and let the consume thread commit.
    private static async Task IdleAsync(KafkaQueueAdapterReceiver receiver)
    {
        for (var i = 0; i < 10; i++)
        {
            Assert.Empty(await receiver.GetQueueMessagesAsync(1_000, CancellationToken.None));
            await Task.Delay(50);
        }
    }

    private static KafkaStreamOptions Options(MockKafkaCluster kafka, string topic) =>
        new() { BootstrapServers = kafka.BootstrapServers, Topics = [topic], ConsumerGroup = "receiver-test", DeadLetterTopic = "" };

    // A receiver of one partition, initialised (its consume thread running); the caller disposes the dead-letter sink.
    private static async Task<(KafkaQueueAdapterReceiver Receiver, KafkaDeadLetterSink DeadLetters)> StartAsync(KafkaStreamOptions options, TopicPartition partition, IKafkaMessageMapper mapper, StreamCommitGates? gates = null)
    {
        var deadLetters = new KafkaDeadLetterSink(options, NullLogger.Instance);
        var receiver = new KafkaQueueAdapterReceiver(partition, options, mapper, deadLetters, gates ?? new StreamCommitGates(), NullLogger.Instance);
        await receiver.Initialize(TimeSpan.FromSeconds(30));
        return (receiver, deadLetters);
    }

    // Pulls as the agent does until done() (or 60 s pass), handing each pull to onPull and, unless told not to,
    // reporting it delivered.
    private static async Task PullUntilAsync(KafkaQueueAdapterReceiver receiver, int maxCount, Func<bool> done, Action<IList<IBatchContainer>> onPull, bool deliver = true)
    {
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60); !done() && DateTime.UtcNow < deadline;)
        {
            var batch = await receiver.GetQueueMessagesAsync(maxCount, CancellationToken.None);
            onPull(batch);
            if (deliver)
            {
                await receiver.MessagesDeliveredAsync(batch, CancellationToken.None);
            }

            if (batch.Count == 0)
            {
                await Task.Delay(20);
            }
        }
    }

    // Produces messages keyed k0, k1, ... and returns those of the partition that received the most.
    private static async Task<IGrouping<int, ConsumeResult<byte[]?, byte[]?>>> ProduceToBusiestPartitionAsync(MockKafkaCluster kafka, string topic, int messages)
    {
        for (var i = 0; i < messages; i++)
        {
            await kafka.ProduceJsonAsync(topic, $"k{i}", "{}");
        }

        return kafka.ReadAll(topic, messages, TimeSpan.FromSeconds(30)).GroupBy(m => m.Partition.Value).OrderByDescending(p => p.Count()).First();
    }

    private static long Committed(MockKafkaCluster kafka, string topic, int partition)
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = kafka.BootstrapServers, GroupId = "receiver-test" }).Build();
        return consumer.Committed([new TopicPartition(topic, partition)], TimeSpan.FromSeconds(10)).Single().Offset.Value;
    }

    /// <summary>The sum of one of the Kafka meter's counters, from its creation until disposed.</summary>
    private sealed class KafkaCounter : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _total;

        public KafkaCounter(string name)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == KafkaStreamMetrics.MeterName && instrument.Name == name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
            _listener.Start();
        }

        public long Total => Interlocked.Read(ref _total);

        public void Dispose() => _listener.Dispose();
    }

    private sealed class FanOutMapper(int streamsPerMessage) : IKafkaMessageMapper
    {
        public static StreamId Stream(string key, int index) =>
            StreamId.Create("fan-out", string.Create(CultureInfo.InvariantCulture, $"{key}/{index}"));

        /// <summary>Calls that throw <see cref="ObjectDisposedException"/> first, as a mapper does whose services a stopping host disposed.</summary>
        public int FailuresLeft { get; set; }

        public ValueTask<KafkaMapping> MapAsync(ConsumeResult<byte[]?, byte[]?> message, CancellationToken cancellationToken)
        {
            if (FailuresLeft > 0)
            {
                FailuresLeft--;
                throw new ObjectDisposedException("IServiceProvider");
            }

            var key = Encoding.UTF8.GetString(message.Message.Key!);
            return ValueTask.FromResult(KafkaMapping.Of(
                [.. Enumerable.Range(0, streamsPerMessage).Select(i => new KafkaMappedEvent(Stream(key, i), key))]));
        }

        public (string Topic, Message<byte[]?, byte[]?> Message) ToMessage(StreamId streamId, object payload) =>
            throw new NotSupportedException();
    }

    /// <summary>Maps every message onto one stream, as the feature store maps a partition onto its ingester's stream.</summary>
    private sealed class PartitionMapper : IKafkaMessageMapper
    {
        public static readonly StreamId Stream = StreamId.Create("partition", "p0");

        public ValueTask<KafkaMapping> MapAsync(ConsumeResult<byte[]?, byte[]?> message, CancellationToken cancellationToken) =>
            ValueTask.FromResult(KafkaMapping.Of([new KafkaMappedEvent(Stream, message.Offset.Value)]));

        public (string Topic, Message<byte[]?, byte[]?> Message) ToMessage(StreamId streamId, object payload) =>
            throw new NotSupportedException();
    }
}
