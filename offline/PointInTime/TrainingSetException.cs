namespace OrleansFeatures.Offline.PointInTime;

/// <summary>A training set cannot be built from these inputs; the message says which input and why.</summary>
public sealed class TrainingSetException(string message) : Exception(message);
