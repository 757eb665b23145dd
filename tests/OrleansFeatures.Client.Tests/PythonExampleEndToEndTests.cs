using System.Diagnostics;
using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using Value = OrleansFeatures.V1.Value;

namespace OrleansFeatures.Client.Tests;

/// <summary>
/// examples/python against the real gateway with demo data: stubs generated from gateway/Protos, inference inputs
/// fetched with Debian's grpcio under /usr/bin/python3 (the interpreter apt installs python3-grpcio for).
/// </summary>
[Trait("Speed", "Slow")] // the fast loop leaves it out (tests/README.md): it starts real servers or processes
public sealed class PythonExampleEndToEndTests
{
    private const string Python = "/usr/bin/python3";

    [Fact]
    public async Task The_python_example_prints_the_inference_matrix_of_the_demo_feed_ranker()
    {
        var (importCode, importOutput) = await RunAsync(Python, ["-c", "import grpc, google.protobuf.internal.builder"], TimeSpan.FromSeconds(30));
        Assert.True(
            importCode == 0,
            $"{Python} cannot import grpc and protobuf: apt-get install -y python3-grpcio python3-protobuf (.ci/run installs them when missing)\n{importOutput}");

        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path, "--demo");
        await gateway.StartAsync();
        using var client = new FeatureStoreClient(new FeatureStoreClientOptions { Address = gateway.GrpcAddress, DefaultDeadline = TimeSpan.FromSeconds(30) });
        // Entities the demo generator never touches (it uses u0.., c0..), so their values are known exactly.
        var now = DateTimeOffset.UtcNow;
        Event[] events =
        [
            Engagement("py-1", "py-user", "py-c1", now.AddMinutes(-3), "click", "tennis", 0),
            Engagement("py-2", "py-user", "py-c1", now.AddMinutes(-2), "click", "tennis", 0),
            Engagement("py-3", "py-user", "py-c2", now.AddMinutes(-1), "view", "football", 40),
        ];
        // The demo applies its definitions as it starts: until then the source is unknown (NOT_FOUND).
        await Poll.UntilAsync(() => client.PushAsync("engagement-events", events), r => r.Accepted + r.Duplicates == 3, TimeSpan.FromSeconds(60), "the demo definitions");

        var stubs = Path.Combine(temp.Path, "stubs");
        var example = Path.Combine(RepositoryPaths.Root, "examples", "python");
        var (generateCode, generateOutput) = await RunAsync(Python, [Path.Combine(example, "generate_stubs.py"), "--out", stubs], TimeSpan.FromSeconds(60));
        Assert.True(generateCode == 0, generateOutput);
        var (code, output) = await RunAsync(
            Python,
            [
                Path.Combine(example, "fetch_inference_inputs.py"), "--address", $"127.0.0.1:{gateway.GrpcPort}", "--stubs", stubs,
                "--service", "feed_ranker_v1", "--entity", "user=py-user", "--entity", "content=py-c1,py-c2,py-c3",
                "--request-field", "hour_of_day=9", "--request-field", "device=android",
            ],
            TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);

        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("rows=3 columns=9 registry_version=", lines[0], StringComparison.Ordinal);
        var columns = lines[1]["columns: ".Length..].Split(',');
        Assert.Equal(9, columns.Length);
        Assert.Equal(5, lines.Length);
        var rows = lines[2..].Select(l => l.Split(' ')).ToArray();
        Assert.All(rows, r => Assert.Equal(9, r.Length));
        string Cell(int row, string column) => rows[row][Array.IndexOf(columns, column)];
        Assert.All(rows, r => Assert.Equal("2", r[Array.IndexOf(columns, "user_engagement:clicks_1h")]));
        Assert.Equal("40", Cell(0, "user_engagement:watch_seconds_24h"));
        Assert.Equal("0", Cell(0, "user_engagement:last_sport")); // football, the first category
        Assert.Equal(["0", "1", "0*"], [Cell(0, "content_popularity:views_1h"), Cell(1, "content_popularity:views_1h"), Cell(2, "content_popularity:views_1h")]);
        Assert.Equal("9", Cell(2, "hour_of_day"));
        Assert.Equal("1", Cell(1, "device")); // android
    }

    private static Event Engagement(string id, string user, string content, DateTimeOffset time, string kind, string sport, double seconds) => new()
    {
        EventId = id,
        EventTime = Timestamp.FromDateTimeOffset(time),
        Fields =
        {
            ["user_id"] = new Value { StringValue = user },
            ["content_id"] = new Value { StringValue = content },
            ["content_type"] = new Value { StringValue = "video" },
            ["kind"] = new Value { StringValue = kind },
            ["sport"] = new Value { StringValue = sport },
            ["watch_seconds"] = new Value { DoubleValue = seconds },
        },
    };

    private static async Task<(int Code, string Output)> RunAsync(string file, string[] arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        }
        catch (System.ComponentModel.Win32Exception missing)
        {
            return (-1, $"{file} could not be started ({missing.Message}): apt-get install -y python3");
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cancel = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                return (-1, $"{file} {string.Join(' ', arguments)} did not finish within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s");
            }

            return (process.ExitCode, await stdout + await stderr);
        }
    }
}
