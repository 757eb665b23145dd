using System.Globalization;
using System.Text;
using Azure.Messaging.EventHubs;
using Orleans.Streaming.EventHubs;
using OrleansFeatures.Streaming.EventHubs;

namespace OrleansFeatures.TestInfrastructure;

/// <summary>
/// An Event Hubs namespace in memory, for the Event Hubs provider's receiver seam: every hub has the same number of
/// partitions, events get consecutive sequence numbers per partition, and receivers read from any position. Shared by
/// every silo of a test cluster (and across its restarts), as a real namespace would be.
/// </summary>
public sealed class InMemoryEventHub(int partitions = 4) : IEventHubPartitionSource
{
    private readonly Dictionary<string, List<EventData>[]> _hubs = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private int _roundRobin;

    public int Partitions { get; } = partitions;

    public Task<string[]> GetPartitionIdsAsync(string hub, CancellationToken cancellationToken) =>
        Task.FromResult(Enumerable.Range(0, Partitions).Select(p => p.ToString(CultureInfo.InvariantCulture)).ToArray());

    public IEventHubReceiver CreateReceiver(string hub, string partition, long? afterSequenceNumber) =>
        new Receiver(this, hub, int.Parse(partition, CultureInfo.InvariantCulture), afterSequenceNumber is { } after ? after + 1 : 0);

    /// <summary>
    /// Sends one event, to the partition its <paramref name="partitionKey"/> hashes to (round robin without one), with
    /// <paramref name="properties"/> as application properties; returns where it landed.
    /// </summary>
    public (int Partition, long SequenceNumber) Send(string hub, string? partitionKey, string body, params (string Name, object Value)[] properties)
    {
        var props = properties.ToDictionary(p => p.Name, p => p.Value);
        lock (_lock)
        {
            var partition = partitionKey is null ? _roundRobin++ % Partitions : (int)(StableHash(partitionKey) % (uint)Partitions);
            var log = Log(hub)[partition];
            var sequenceNumber = log.Count;
            log.Add(EventHubsModelFactory.EventData(
                new BinaryData(Encoding.UTF8.GetBytes(body)),
                props,
                null,
                partitionKey,
                sequenceNumber,
                sequenceNumber.ToString(CultureInfo.InvariantCulture),
                DateTimeOffset.UtcNow));
            return (partition, sequenceNumber);
        }
    }

    /// <summary>Events sent to <paramref name="hub"/> so far, over all partitions.</summary>
    public long Count(string hub)
    {
        lock (_lock)
        {
            return Log(hub).Sum(p => (long)p.Count);
        }
    }

    private List<EventData>[] Log(string hub)
    {
        if (!_hubs.TryGetValue(hub, out var log))
        {
            _hubs[hub] = log = Enumerable.Range(0, Partitions).Select(_ => new List<EventData>()).ToArray();
        }

        return log;
    }

    // FNV-1a: the same partition for the same key in every process (string.GetHashCode is randomised).
    private static uint StableHash(string key)
    {
        var hash = 2166136261;
        foreach (var c in key)
        {
            hash = (hash ^ c) * 16777619;
        }

        return hash;
    }

    private sealed class Receiver(InMemoryEventHub owner, string hub, int partition, long next) : IEventHubReceiver
    {
        private long _next = next;

        [Obsolete("Use the overload which accepts a CancellationToken.")]
        public Task<IEnumerable<EventData>> ReceiveAsync(int maxCount, TimeSpan waitTime) => ReceiveAsync(maxCount, waitTime, CancellationToken.None);

        public Task<IEnumerable<EventData>> ReceiveAsync(int maxCount, TimeSpan waitTime, CancellationToken cancellationToken)
        {
            // Answers at once, with what is there: the pulling agent asks again every 10 ms.
            lock (owner._lock)
            {
                var log = owner.Log(hub)[partition];
                var count = (int)Math.Clamp(log.Count - _next, 0, maxCount);
                var events = log.GetRange((int)_next, count);
                _next += count;
                return Task.FromResult<IEnumerable<EventData>>(events);
            }
        }

        [Obsolete("Use the overload which accepts a CancellationToken.")]
        public Task CloseAsync() => Task.CompletedTask;

        public Task CloseAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
