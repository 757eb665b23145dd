using OrleansFeatures.Grains.Hosting;

namespace OrleansFeatures.Grains.Tests;

public class FeatureStoreSiloOptionsTests
{
    [Fact]
    public void MinWorkerThreads_raises_the_thread_pool_minimum_and_never_lowers_it()
    {
        ThreadPool.GetMinThreads(out var before, out var io);

        FeatureStoreSiloExtensions.RaiseMinWorkerThreads(before + 2);
        ThreadPool.GetMinThreads(out var raised, out var ioAfter);
        FeatureStoreSiloExtensions.RaiseMinWorkerThreads(1);
        ThreadPool.GetMinThreads(out var afterLower, out _);

        Assert.Equal(before + 2, raised);
        Assert.Equal(io, ioAfter);
        Assert.Equal(raised, afterLower);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1_025)]
    public void MinWorkerThreads_out_of_range_is_refused_at_start_up(int wanted)
    {
        var error = Assert.Throws<OrleansConfigurationException>(() => FeatureStoreSiloExtensions.RaiseMinWorkerThreads(wanted));

        Assert.Contains("FeatureStore:MinWorkerThreads", error.Message, StringComparison.Ordinal);
    }
}
