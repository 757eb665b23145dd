using OrleansFeatures.Core.Events;

namespace OrleansFeatures.Core.Definitions;

/// <summary>
/// A parsed <c>where:</c> filter. Evaluation never throws: a missing field or a type mismatch makes a
/// comparison false, so one odd event cannot break a feature.
/// </summary>
public abstract class FilterExpression
{
    /// <summary>True when the event's fields satisfy the filter.</summary>
    public abstract bool Evaluate(IReadOnlyDictionary<string, ScalarValue> fields);

    /// <summary>Every field name the filter reads, for validation against the source's declared fields.</summary>
    public abstract void CollectFields(ISet<string> fields);

    /// <summary>The filter as canonical text; two filters with the same text are the same filter.</summary>
    public abstract override string ToString();
}
