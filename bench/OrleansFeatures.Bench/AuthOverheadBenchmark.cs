using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using HdrHistogram;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

/// <summary>
/// What API-key authentication adds to a lookup: two gateways, one with keys required and one without, each asked
/// the same sequential single-entity lookups in interleaved rounds so machine noise hits both alike.
/// </summary>
internal static class AuthOverheadBenchmark
{
    private const string Key = "bench-key-7f3c9a1e5b2d4f608a1c3e5f7b9d0a2c";

    public static async Task RunAsync(string[] args)
    {
        var calls = 5_000;
        for (var i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--calls")
            {
                calls = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            }
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Key)));
        using var openTemp = new TempDirectory("orleansfeatures-bench");
        using var keyedTemp = new TempDirectory("orleansfeatures-bench");
        await using var open = new GatewayProcess(openTemp.Path);
        await using var keyed = new GatewayProcess(
            keyedTemp.Path,
            "--FeatureStore:Auth:Mode=ApiKeys",
            "--FeatureStore:Auth:ApiKeys:0:Name=bench",
            $"--FeatureStore:Auth:ApiKeys:0:Hash={hash}",
            "--FeatureStore:Auth:ApiKeys:0:Permissions:0=read",
            "--FeatureStore:Auth:ApiKeys:0:Permissions:1=admin") { AuthOff = false };
        await Task.WhenAll(open.StartAsync(), keyed.StartAsync());
        using var openChannel = GrpcChannel.ForAddress(open.GrpcAddress);
        using var keyedChannel = GrpcChannel.ForAddress(keyed.GrpcAddress);
        var headers = new Metadata { { "authorization", "ApiKey " + Key } };
        var apply = await ExampleDefinitions.RequestAsync();
        await new FeatureRegistry.FeatureRegistryClient(openChannel).ApplyDefinitionsAsync(apply);
        await new FeatureRegistry.FeatureRegistryClient(keyedChannel).ApplyDefinitionsAsync(apply, headers);
        var openServing = new FeatureServing.FeatureServingClient(openChannel);
        var keyedServing = new FeatureServing.FeatureServingClient(keyedChannel);

        var openHistogram = new LongHistogram(TimeStamp.Seconds(10), 3);
        var keyedHistogram = new LongHistogram(TimeStamp.Seconds(10), 3);
        async Task LookupAsync(FeatureServing.FeatureServingClient serving, Metadata? metadata, int i, LongHistogram? histogram)
        {
            var request = new GetOnlineFeaturesRequest { EntityType = "user", FeatureService = "ranker_v3", EntityIds = { $"u{i % 1_000}" } };
            var started = Stopwatch.GetTimestamp();
            await serving.GetOnlineFeaturesAsync(request, metadata);
            histogram?.RecordValue(Stopwatch.GetTimestamp() - started);
        }

        for (var i = 0; i < 2_000; i++)
        {
            await LookupAsync(openServing, null, i, null);
            await LookupAsync(keyedServing, headers, i, null);
        }

        const int rounds = 10;
        for (var round = 0; round < rounds; round++)
        {
            for (var i = 0; i < calls / rounds; i++)
            {
                await LookupAsync(openServing, null, i, openHistogram);
            }

            for (var i = 0; i < calls / rounds; i++)
            {
                await LookupAsync(keyedServing, headers, i, keyedHistogram);
            }
        }

        static string Ms(LongHistogram h, double percentile) =>
            (h.GetValueAtPercentile(percentile) * 1000.0 / Stopwatch.Frequency).ToString("0.000", CultureInfo.InvariantCulture);

        Console.WriteLine();
        Console.WriteLine($"sequential single-user lookups (ranker_v3) on loopback, {calls} per gateway, interleaved rounds, {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"gateway",-30} {"p50 ms",8} {"p99 ms",8} {"p99.9 ms",9}");
        Console.WriteLine($"{"Auth:Mode=None",-30} {Ms(openHistogram, 50),8} {Ms(openHistogram, 99),8} {Ms(openHistogram, 99.9),9}");
        Console.WriteLine($"{"Auth:Mode=ApiKeys (1 key)",-30} {Ms(keyedHistogram, 50),8} {Ms(keyedHistogram, 99),8} {Ms(keyedHistogram, 99.9),9}");
        Console.WriteLine($"auth overhead: p50 {Ms(keyedHistogram, 50)} vs {Ms(openHistogram, 50)} ms, p99 {Ms(keyedHistogram, 99)} vs {Ms(openHistogram, 99)} ms " +
            $"(ratio p99 {(double)keyedHistogram.GetValueAtPercentile(99) / openHistogram.GetValueAtPercentile(99):0.00}x)");
    }
}
