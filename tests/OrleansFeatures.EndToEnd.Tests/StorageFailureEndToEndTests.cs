using System.Net;
using Google.Protobuf;
using Microsoft.Data.Sqlite;
using OrleansFeatures.TestInfrastructure;
using OrleansFeatures.V1;

namespace OrleansFeatures.EndToEnd.Tests;

/// <summary>What callers and probes see while the gateway's storage refuses writes (as a full disk does).</summary>
public sealed class StorageFailureEndToEndTests
{
    // Grpc.Net.Client's default MaxReceiveMessageSize.
    private const int DefaultClientLimitBytes = 4 * 1024 * 1024;

    [Fact]
    public async Task A_10000_event_push_that_storage_refuses_answers_short_fixed_reasons_a_default_client_can_read()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());

        RefuseWrites(Path.Combine(temp.Path, "store.db"));
        var now = DateTimeOffset.UtcNow;
        var events = Enumerable.Range(0, 10_000).Select(i => Events.Play($"e{i}", $"user{i % 100}", now.AddMilliseconds(-i), "golf", "view", 1)).ToArray();
        var push = await client.Ingestion.PushEventsAsync(Events.Push(events));

        // A refused write may be a lost acknowledgement elsewhere (a remote store's timeout): the store cannot know.
        Assert.Equal(10_000, push.UnknownOutcome);
        var reasons = push.Results.Select(r => r.Reason).Distinct().ToList();
        var reason = Assert.Single(reasons);
        Assert.True(reason.Length < 100, reason);
        Assert.DoesNotContain(" at ", reason, StringComparison.Ordinal);
        Assert.True(push.CalculateSize() < DefaultClientLimitBytes / 4, $"the answer is {push.CalculateSize()} bytes");
        // The cause is logged once for the whole push (its entity calls made again included), not once per entity (100
        // here) or per event.
        var output = gateway.Output;
        Assert.Equal(1, Occurrences(output, "failed to commit"));
        Assert.Equal(1, Occurrences(output, "their events are reported as of unknown outcome"));
    }

    [Fact]
    public async Task Readiness_fails_while_storage_refuses_writes_and_recovers_when_writes_work_again()
    {
        using var temp = new TempDirectory();
        await using var gateway = new GatewayProcess(temp.Path);
        await gateway.StartAsync();
        using var client = new GatewayClient(gateway);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var ready = new Uri($"http://127.0.0.1:{gateway.HttpPort}/healthz/ready");
        await client.Registry.ApplyDefinitionsAsync(E2EDefinitions.Request());
        var database = Path.Combine(temp.Path, "store.db");

        RefuseWrites(database);
        var failed = await client.Ingestion.PushEventsAsync(Events.Push(Events.Play("e1", "u1", DateTimeOffset.UtcNow, "golf", "view", 1)));
        Assert.Equal(EventStatus.UnknownOutcome, failed.Results[0].Status);
        await Poll.UntilAsync(async () => (await http.GetAsync(ready)).StatusCode, s => s == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30), "readiness to fail");

        AcceptWrites(database);
        await Poll.UntilAsync(async () => (await http.GetAsync(ready)).StatusCode, s => s == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "readiness to recover");
        var retried = await client.Ingestion.PushEventsAsync(Events.Push(Events.Play("e1", "u1", DateTimeOffset.UtcNow, "golf", "view", 1)));
        Assert.Equal(EventStatus.Accepted, retried.Results[0].Status);
    }

    private static int Occurrences(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    // Triggers that abort every insert and update stand in for a disk that refuses writes: the gateway's lock file is
    // advisory, so the test can still reach the database through SQLite (the tests run as root, so permissions cannot).
    private static void RefuseWrites(string database) => Execute(database, """
        CREATE TRIGGER refuse_state_insert BEFORE INSERT ON grain_state BEGIN SELECT RAISE(ABORT, 'simulated: disk full'); END;
        CREATE TRIGGER refuse_state_update BEFORE UPDATE ON grain_state BEGIN SELECT RAISE(ABORT, 'simulated: disk full'); END;
        CREATE TRIGGER refuse_probe_insert BEFORE INSERT ON storage_probe BEGIN SELECT RAISE(ABORT, 'simulated: disk full'); END;
        CREATE TRIGGER refuse_probe_update BEFORE UPDATE ON storage_probe BEGIN SELECT RAISE(ABORT, 'simulated: disk full'); END;
        """);

    private static void AcceptWrites(string database) => Execute(database, """
        DROP TRIGGER refuse_state_insert; DROP TRIGGER refuse_state_update;
        DROP TRIGGER refuse_probe_insert; DROP TRIGGER refuse_probe_update;
        """);

    private static void Execute(string database, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
