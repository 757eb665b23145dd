using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using OrleansFeatures.Grains.Hosting;
using OrleansFeatures.Streaming.EventHubs;
using OrleansFeatures.TestInfrastructure;

namespace OrleansFeatures.Streaming.Tests;

/// <summary>
/// A test cluster consuming the hub <c>plays</c> through the native Event Hubs provider: the real adapter factory,
/// cache, pulling agents and Azure Table checkpoints (Azurite), with an <see cref="InMemoryEventHub"/> behind the
/// receiver seam instead of an AMQP connection. Definitions and expectations are <see cref="KafkaFixture"/>'s.
/// </summary>
internal static class EventHubFixture
{
    public const string Hub = KafkaFixture.Topic;

    /// <summary>Well-formed, never dialled: the in-memory hub replaces the connection.</summary>
    public const string ConnectionString = "Endpoint=sb://in-memory.servicebus.windows.net/;SharedAccessKeyName=test;SharedAccessKey=dGVzdA==";

    public static EventHubStreamOptions Options(AzuriteServer azurite, string tables) => new()
    {
        Hubs = [Hub],
        ConnectionString = ConnectionString,
        TableConnectionString = azurite.ConnectionString,
        CheckpointTable = tables + "checkpoints",
        DeadLetterTable = tables + "deadletters",
    };

    public static async Task<InProcessTestCluster> StartAsync(InMemoryEventHub hub, EventHubStreamOptions options, string database, short silos = 1, bool flakyStorage = false, CapturedLog? log = null)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((siloOptions, silo) =>
        {
            log?.AttachTo(silo, siloOptions.SiloName);
            KafkaFixture.AddStoreServices(silo, database, flakyStorage);
            silo.Services.AddSingleton<IEventHubPartitionSource>(hub);
            silo.AddFeatureStoreEventHubs(Copy(options));
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    /// <summary>Sends <paramref name="count"/> events over <paramref name="users"/> users (keyed by user); returns what each user should read.</summary>
    public static Dictionary<string, (long Count, double Seconds)> Send(InMemoryEventHub hub, int from, int count, int users, Dictionary<string, (long Count, double Seconds)>? expected = null)
    {
        expected ??= [];
        for (var i = from; i < from + count; i++)
        {
            var user = $"u{i % users}";
            var seconds = i % 7;
            hub.Send(Hub, user, KafkaFixture.Json($"e{i}", user, KafkaFixture.Base + i, seconds));
            var (n, s) = expected.GetValueOrDefault(user);
            expected[user] = (n + 1, s + seconds);
        }

        return expected;
    }

    /// <summary>Events the checkpoints cover, summed over partitions (a checkpoint at sequence number N covers N + 1).</summary>
    public static async Task<long> CheckpointedAsync(EventHubStreamOptions options)
    {
        var table = new TableClient(options.TableConnectionString, options.CheckpointTable);
        long total = 0;
        try
        {
            await foreach (var row in table.QueryAsync<TableEntity>(r => r.PartitionKey == $"{options.ConsumerGroup}|{Hub}"))
            {
                total += row.GetInt64("SequenceNumber")!.Value + 1;
            }
        }
        catch (Azure.RequestFailedException exception) when (exception.Status == 404)
        {
            return 0;
        }

        return total;
    }

    /// <summary>Each partition's checkpoint row, for a failure's diagnostics.</summary>
    public static async Task<string> DescribeCheckpointsAsync(EventHubStreamOptions options)
    {
        var table = new TableClient(options.TableConnectionString, options.CheckpointTable);
        var lines = new List<string>();
        await foreach (var row in table.QueryAsync<TableEntity>(r => r.PartitionKey == $"{options.ConsumerGroup}|{Hub}"))
        {
            lines.Add($"checkpoint {row.RowKey}: sequence {row.GetInt64("SequenceNumber")}");
        }

        return string.Join(Environment.NewLine, lines);
    }

    public static async Task<List<TableEntity>> DeadLettersAsync(EventHubStreamOptions options)
    {
        var table = new TableClient(options.TableConnectionString, options.DeadLetterTable);
        var rows = new List<TableEntity>();
        try
        {
            await foreach (var row in table.QueryAsync<TableEntity>())
            {
                rows.Add(row);
            }
        }
        catch (Azure.RequestFailedException exception) when (exception.Status == 404)
        {
        }

        return rows;
    }

    // Each silo binds its own copy: AddFeatureStoreEventHubs sets the stream namespace on what it is given.
    private static EventHubStreamOptions Copy(EventHubStreamOptions o) => new()
    {
        Hubs = [.. o.Hubs],
        ConsumerGroup = o.ConsumerGroup,
        ConnectionString = o.ConnectionString,
        FullyQualifiedNamespace = o.FullyQualifiedNamespace,
        TableConnectionString = o.TableConnectionString,
        TableServiceUri = o.TableServiceUri,
        CheckpointTable = o.CheckpointTable,
        DeadLetterTable = o.DeadLetterTable,
    };
}
