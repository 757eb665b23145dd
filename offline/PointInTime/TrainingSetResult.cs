namespace OrleansFeatures.Offline.PointInTime;

/// <summary>What a build read, replayed and wrote, how long each phase took, and the peak memory of the process.</summary>
public sealed class TrainingSetResult
{
    public long EventsRead { get; set; }

    /// <summary>Events refused as the push API would refuse them (schema, admission, no entity key); <see cref="RejectedExamples"/> says why.</summary>
    public long EventsRejected { get; set; }

    /// <summary>(Event, entity) pairs routed to an entity of the service's type.</summary>
    public long EventsRouted { get; set; }

    /// <summary>Outcomes summed over the service's views, as the online store counts them.</summary>
    public long Accepted { get; set; }

    /// <summary>Routed pairs not replayed: the event arrived after its entity's last label row, which it cannot change.</summary>
    public long EventsAfterLastRow { get; set; }

    /// <summary>Routed pairs not replayed: no label row asks for the entity.</summary>
    public long EventsOfEntitiesWithoutRows { get; set; }

    /// <summary>Routed pairs of entities of other shards (<see cref="TrainingSetRequest.Shard"/>), dropped before the replay.</summary>
    public long EventsOfOtherShards { get; set; }

    public long Duplicates { get; set; }

    public long Late { get; set; }

    /// <summary>Rows written: the entity table's rows, or with a shard, the rows of its keys.</summary>
    public long LabelRows { get; set; }

    /// <summary>Rows of the entity table read (every shard's).</summary>
    public long EntityTableRows { get; set; }

    public long Entities { get; set; }

    public List<string> RejectedExamples { get; } = [];

    public TimeSpan PartitionTime { get; set; }

    public TimeSpan ReplayTime { get; set; }

    public TimeSpan WriteTime { get; set; }

    public TimeSpan TotalTime => PartitionTime + ReplayTime + WriteTime;

    public long PeakWorkingSetBytes { get; set; }

    public IReadOnlyList<string> Columns { get; set; } = [];
}
