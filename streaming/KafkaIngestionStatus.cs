namespace OrleansFeatures.Streaming.Kafka;

/// <summary>
/// Whether the partitions this process reads can ingest: each partition's consumer talks to the brokers. Lookups do
/// not depend on it; a host reports it as its own readiness (ingestion), not the serving one.
/// </summary>
/// <param name="Partitions">Partitions this process reads now.</param>
/// <param name="Problems">Per partition that cannot ingest, <c>topic/partition: why</c> (brokers unreachable, not connected yet, consumer stopped).</param>
public sealed record KafkaIngestionStatus(int Partitions, IReadOnlyList<string> Problems)
{
    public bool IsReady => Problems.Count == 0;

    /// <summary>The status of every live receiver in this process.</summary>
    public static KafkaIngestionStatus Current()
    {
        var partitions = 0;
        var problems = new List<string>();
        foreach (var receiver in KafkaStreamMetrics.LiveReceivers)
        {
            partitions++;
            if (receiver.IngestionProblem is { } problem)
            {
                problems.Add($"{receiver.PartitionName}: {problem}");
            }
        }

        problems.Sort(StringComparer.Ordinal);
        return new KafkaIngestionStatus(partitions, problems);
    }
}
