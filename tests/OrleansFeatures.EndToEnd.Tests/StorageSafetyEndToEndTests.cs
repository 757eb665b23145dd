using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>The gateway refuses to start on a database it cannot own or trust, and says which file.</summary>
public sealed class StorageSafetyEndToEndTests
{
    [Fact]
    public async Task A_second_gateway_on_the_same_database_fails_start_up_naming_the_file()
    {
        using var temp = new TempDirectory();
        await using var first = new GatewayProcess(temp.Path);
        await first.StartAsync();

        await using var second = new GatewayProcess(temp.Path);
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());

        Assert.Contains(Path.Combine(temp.Path, "store.db"), refused.Message, StringComparison.Ordinal);
        Assert.Contains("in use by another process", refused.Message, StringComparison.Ordinal);

        // The first one is unaffected.
        using var client = new GatewayClient(first);
        Assert.True((await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request())).Applied);
    }

    [Fact]
    public async Task A_gateway_on_a_database_with_corrupt_pages_fails_start_up_naming_the_file()
    {
        using var temp = new TempDirectory();
        var path = Path.Combine(temp.Path, "store.db");
        await using (var gateway = new GatewayProcess(temp.Path))
        {
            await gateway.StartAsync();
            using var client = new GatewayClient(gateway);
            await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
            var now = DateTimeOffset.UtcNow;
            var events = Enumerable.Range(0, 200).Select(i => Events.Play($"e{i}", $"user{i}", now, "golf", "view", 1)).ToArray();
            Assert.Equal(200, (await client.Ingestion.PushEventsAsync(Events.Push(events))).Accepted);
            await gateway.StopAsync();
        }

        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            // Garbage over every page but the first (header and schema), as a failing disk leaves it.
            var garbage = new byte[4096];
            new Random(13).NextBytes(garbage);
            for (var offset = 4096L; offset + garbage.Length <= file.Length; offset += garbage.Length)
            {
                file.Position = offset;
                file.Write(garbage);
            }
        }

        await using var restarted = new GatewayProcess(temp.Path);
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => restarted.StartAsync());

        Assert.Contains(path, refused.Message, StringComparison.Ordinal);
    }
}
