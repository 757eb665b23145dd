namespace OrleansFeatures.Cli;

/// <summary>
/// Reports on the caller's thread. <see cref="Progress{T}"/> posts each report to the thread pool, where it can run
/// after the command has finished and its writers are gone.
/// </summary>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
