using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using OrleansFeatures.Gateway.Diagnostics;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Gateway.Tests.Diagnostics;

public sealed class StallTraceTests
{
    [Fact]
    public void Is_off_unless_a_directory_is_set()
    {
        Assert.False(StallTrace.IsEnabled(new ConfigurationBuilder().Build()));
        Assert.False(StallTrace.IsEnabled(Configuration(" ")));
        Assert.True(StallTrace.IsEnabled(Configuration("/tmp/trace")));
    }

    [Fact]
    public async Task Records_lookup_and_inference_requests_with_their_duration_and_no_other_request()
    {
        using var directory = new TempDirectory("orleansfeatures-stall-trace");
        var trace = new StallTrace(Configuration(directory.Path), NullLogger<StallTrace>.Instance);
        await trace.StartAsync(CancellationToken.None);

        await trace.TimeAsync(Request("/orleansfeatures.v1.FeatureServing/GetOnlineFeatures"), _ => Task.Delay(30));
        await trace.TimeAsync(Request("/orleansfeatures.v1.FeatureServing/GetInferenceInputs"), _ => Task.CompletedTask);
        await trace.TimeAsync(Request("/grpc.health.v1.Health/Check"), _ => Task.CompletedTask);
        var requests = await WaitForRowsAsync(Path.Combine(directory.Path, "gateway-requests.csv"), 2);
        await trace.StopAsync(CancellationToken.None);

        Assert.Equal("kind,start_unix_us,duration_us", requests[0]);
        Assert.Equal(2, requests.Length - 1);
        var lookup = requests[1].Split(',');
        Assert.Equal("L", lookup[0]);
        Assert.InRange(long.Parse(lookup[1]), StallTrace.UnixMicros() - 60_000_000, StallTrace.UnixMicros());
        // Task.Delay(30) is timed by the runtime's timer, the trace by the stopwatch: it may end a fraction early by the
        // latter's clock (29.8 ms was recorded once in CI).
        Assert.True(long.Parse(lookup[2]) >= 25_000, $"the lookup took about 30 ms, recorded {lookup[2]} us");
        Assert.Equal("I", requests[2].Split(',')[0]);
    }

    [Fact]
    public async Task Samples_the_runtime_and_records_each_collection()
    {
        using var directory = new TempDirectory("orleansfeatures-stall-trace");
        var trace = new StallTrace(Configuration(directory.Path), NullLogger<StallTrace>.Instance);
        await trace.StartAsync(CancellationToken.None);
        var samples = Path.Combine(directory.Path, "gateway-samples.csv");
        await WaitForRowsAsync(samples, 1);

        // A forced collection is a gen2 one. The trace records the newest collection per sample, so one that another
        // test's collection follows within 10 ms is not seen: force one per wait until one is.
        var collections = await WaitForRowsAsync(Path.Combine(directory.Path, "gateway-gcs.csv"), 1, lines =>
        {
            GC.Collect();
            return lines.Skip(1).Any(row => row.Split(',')[2] == "2");
        });
        var rows = await WaitForRowsAsync(samples, 3);
        await trace.StopAsync(CancellationToken.None);

        var header = rows[0].Split(',');
        Assert.Equal("gc_pause_ms", header[5]);
        Assert.All(rows.Skip(1), row => Assert.Equal(header.Length, row.Split(',').Length));
        Assert.Equal("unix_us,index,generation", string.Join(',', collections[0].Split(',').Take(3)));
        Assert.True(int.Parse(rows[^1].Split(',')[8]) >= 1, "the last sample counts the forced gen2 collections");
    }

    private static IConfiguration Configuration(string directory) =>
        new ConfigurationBuilder().AddInMemoryCollection([new(StallTrace.Setting, directory)]).Build();

    private static DefaultHttpContext Request(string path)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;
        return context;
    }

    // The sampler writes every 10 ms; a loaded machine may take far longer, so wait (bounded) for the rows rather than sleep.
    private static async Task<string[]> WaitForRowsAsync(string file, int rows, Func<string[], bool>? until = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (File.Exists(file))
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(stream);
                var lines = (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
                if (lines.Length > rows && (until is null || until(lines)))
                {
                    return lines;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, $"{Path.GetFileName(file)} did not get the rows awaited in 30 s");
            await Task.Delay(20);
        }
    }
}
