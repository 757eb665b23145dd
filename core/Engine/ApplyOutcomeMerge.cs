namespace OrleansFeatures.Core.Engine;

/// <summary>
/// The one rule for what an event's status is when it reached several views (of one entity, or of several): ACCEPTED
/// when any view applied it; LATE only when it was late in every view it reached; DUPLICATE otherwise (every view had
/// it already, or some had it and the others found it late: a retry of an event accepted before). ingestion.proto
/// documents the same rule for EVENT_STATUS.
/// </summary>
public struct ApplyOutcomeMerge
{
    private bool _accepted;
    private bool _duplicate;
    private bool _late;

    /// <summary>True once any view's outcome was added.</summary>
    public readonly bool Reached => _accepted || _duplicate || _late;

    public void Add(ApplyOutcome outcome)
    {
        switch (outcome)
        {
            case ApplyOutcome.Accepted: _accepted = true; break;
            case ApplyOutcome.Duplicate: _duplicate = true; break;
            default: _late = true; break;
        }
    }

    /// <summary>The combined outcome; <see cref="ApplyOutcome.Duplicate"/> when nothing was added.</summary>
    public readonly ApplyOutcome Result =>
        _accepted ? ApplyOutcome.Accepted
        : _late && !_duplicate ? ApplyOutcome.Late
        : ApplyOutcome.Duplicate;
}
