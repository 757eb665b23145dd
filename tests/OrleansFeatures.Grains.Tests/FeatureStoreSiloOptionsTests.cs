using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Grains.Ingestion;

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

    [Theory]
    [InlineData("Workers", 0)]
    [InlineData("Workers", 1_025)]
    [InlineData("WorkerNice", -1)]
    [InlineData("WorkerNice", 20)]
    [InlineData("MaxEntityCallsInFlight", 0)]
    [InlineData("MaxUncheckpointedEntities", 0)]
    public void An_ingestion_limit_out_of_range_is_refused_naming_its_setting(string setting, int value)
    {
        var options = new IngestionOptions();
        typeof(IngestionOptions).GetProperty(setting)!.SetValue(options, value);

        var result = new IngestionOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains($"FeatureStore:Ingestion:{setting}", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_ingestion_lane_leaves_cores_to_serving_and_is_valid()
    {
        var options = new IngestionOptions();

        Assert.InRange(options.Workers, 1, Math.Max(1, Environment.ProcessorCount - 1));
        Assert.True(new IngestionOptionsValidator().Validate(null, options).Succeeded);
    }
}
