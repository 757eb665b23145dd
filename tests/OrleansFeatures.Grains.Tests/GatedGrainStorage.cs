using Orleans;
using Orleans.Runtime;
using Orleans.Storage;

namespace OrleansFeatures.Grains.Tests;

/// <summary>
/// Grain storage that holds the next write of a matching state at a gate until the test opens it, so a test can act
/// while that write is in flight, deterministically.
/// </summary>
internal sealed class GatedGrainStorage(IGrainStorage inner, Func<string, bool> gates) : IGrainStorage
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _armed = 1;

    /// <summary>Completes once a gated write has reached storage and waits.</summary>
    public Task Entered => _entered.Task;

    /// <summary>Lets the held write (and every later one) through.</summary>
    public void Open() => _open.TrySetResult();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (gates(stateName) && Interlocked.Exchange(ref _armed, 0) == 1)
        {
            _entered.TrySetResult();
            await _open.Task;
        }

        await inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);
}
