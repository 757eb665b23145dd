using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;
using Xunit.Abstractions;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>
/// Thousands of seeded hostile requests (<see cref="HostileRequests"/>) across every RPC against one gateway
/// process: every answer is an expected gRPC status, the process stays up, a valid lookup beside them keeps its
/// value, the registry is never changed, and resident memory stays under <see cref="MemoryBound"/>.
/// Reproduce a failure with <c>HOSTILE_SEED=&lt;seed&gt;</c> (printed in the output).
/// </summary>
public sealed class HostileInputSuiteEndToEndTests(ITestOutputHelper output)
{
    private const int Requests = 3_000;
    private const int Workers = 4;
    private const int NeighbourEvery = 20;
    private const int MaxOversized = 3;
    private const long MemoryBound = 1L << 30;
    private const int MaxStatusDetail = 8_192;

    private static readonly Marshaller<byte[]> RawBytes = Marshallers.Create(bytes => bytes, bytes => bytes);

    // UNKNOWN, INTERNAL, UNAVAILABLE (a crash or a broken connection) and DEADLINE_EXCEEDED (a stall) are failures.
    private static readonly HashSet<StatusCode> Allowed =
    [
        StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.ResourceExhausted,
        StatusCode.Aborted, StatusCode.FailedPrecondition, StatusCode.OutOfRange,
    ];

    [Fact]
    public async Task Thousands_of_hostile_requests_get_expected_statuses_while_the_process_neighbours_registry_and_memory_hold()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("HOSTILE_SEED"), CultureInfo.InvariantCulture, out var chosen) ? chosen : 20261201;
        output.WriteLine($"HOSTILE_SEED={seed}");
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        Assert.Equal(1, (await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request())).RegistryVersion);
        var neighbourTime = DateTimeOffset.UtcNow.AddMinutes(-1);
        await client.Ingestion.PushEventsAsync(Events.Push(
            Events.Play("n-a", "n1", neighbourTime, "tennis", "click", 1),
            Events.Play("n-b", "n1", neighbourTime, "tennis", "view", 2)));
        await AssertNeighbourAsync(client);

        var invoker = client.Invoker;
        var outcomes = new ConcurrentDictionary<(string Method, StatusCode Status), int>();
        var failures = new ConcurrentQueue<string>();
        var oversized = 0;
        var next = -1;
        var neighbourChecks = 0;
        long peakResident = 0;
        var watch = Stopwatch.StartNew();

        async Task WorkAsync()
        {
            int index;
            var sent = 0;
            while ((index = Interlocked.Increment(ref next)) < Requests && failures.IsEmpty)
            {
                var request = HostileRequests.Build(seed, index, allowOversized: Volatile.Read(ref oversized) < MaxOversized);
                if (request.Kind.StartsWith("oversized", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref oversized);
                }

                var (status, detail) = await CallAsync(invoker, request);
                outcomes.AddOrUpdate((request.Method, status), 1, (_, n) => n + 1);
                if (!Allowed.Contains(status) || detail.Length > MaxStatusDetail)
                {
                    failures.Enqueue($"request {index} ({request.Method}, {request.Kind}, {request.Body.Length} bytes): {status} {Cut(detail)}");
                }

                if (!gateway.IsRunning)
                {
                    failures.Enqueue($"the gateway exited after request {index} ({request.Method}, {request.Kind})");
                }

                if (++sent % NeighbourEvery == 0)
                {
                    await AssertNeighbourAsync(client);
                    Interlocked.Increment(ref neighbourChecks);
                    InterlockedMax(ref peakResident, gateway.ResidentBytes);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(WorkAsync)));
        var elapsed = watch.Elapsed;

        foreach (var ((method, status), count) in outcomes.OrderBy(o => o.Key.Method, StringComparer.Ordinal).ThenBy(o => o.Key.Status))
        {
            output.WriteLine($"{method,-18} {status,-18} {count,6}");
        }

        Assert.True(failures.IsEmpty, $"seed {seed}: {string.Join("\n", failures.Take(10))}\n{Tail(gateway.Output)}");
        Assert.True(gateway.IsRunning, Tail(gateway.Output));
        await AssertNeighbourAsync(client);
        Assert.Equal(1, (await client.Registry.ListDefinitionsAsync(new ListDefinitionsRequest())).RegistryVersion);

        var residentAfter = gateway.ResidentBytes;
        var peak = Math.Max(gateway.PeakWorkingSetBytes, peakResident);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Requests} requests in {elapsed.TotalSeconds:0.0} s ({oversized} oversized), {neighbourChecks} neighbour checks; RSS peak {peak >> 20} MiB, after {residentAfter >> 20} MiB"));
        Assert.True(outcomes.Keys.Select(k => k.Method).Distinct().Count() == HostileRequests.Rpcs.Length, "every RPC was exercised");
        Assert.True(peak < MemoryBound, $"peak RSS {peak >> 20} MiB");
        Assert.True(residentAfter is > 0 and < MemoryBound, $"RSS after {residentAfter >> 20} MiB");
    }

    private static async Task<(StatusCode Status, string Detail)> CallAsync(CallInvoker invoker, HostileRequest request)
    {
        var method = new Method<byte[], byte[]>(MethodType.Unary, request.Service, request.Method, RawBytes, RawBytes);
        try
        {
            await invoker.AsyncUnaryCall(method, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30)), request.Body);
            return (StatusCode.OK, "");
        }
        catch (RpcException error)
        {
            return (error.StatusCode, error.Status.Detail);
        }
    }

    private static async Task AssertNeighbourAsync(GatewayClient client)
    {
        var lookup = new GetOnlineFeaturesRequest { EntityType = "user" };
        lookup.EntityIds.Add("n1");
        (lookup.Features ??= new()).References.Add("user_plays:plays_1h");
        (lookup.Features ??= new()).References.Add("user_plays:seconds_24h");
        var values = Assert.Single((await client.Serving.GetOnlineFeaturesAsync(lookup, deadline: DateTime.UtcNow.AddSeconds(30))).Entities).Values;
        Assert.Equal(2, values[0].Value.Int64Value);
        Assert.Equal(3.0, values[1].Value.DoubleValue);
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long current;
        while (value > (current = Interlocked.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    private static string Cut(string text) => text.Length <= 300 ? text : text[..300] + $"… ({text.Length} characters)";

    private static string Tail(string log) => log.Length <= 4_000 ? log : log[^4_000..];
}
