/// <summary>A grain with no state and no work: what Orleans itself keeps per activation.</summary>
public interface IMemoryBaselineGrain : IGrainWithStringKey
{
    Task Touch();
}

/// <summary>The empty activation <c>bench memory</c> measures beside each entity.</summary>
public sealed class MemoryBaselineGrain : Grain, IMemoryBaselineGrain
{
    public Task Touch() => Task.CompletedTask;
}
