using Azure.Data.Tables;
using Azure.Identity;

namespace OrleansFeatures.Streaming.EventHubs;

/// <summary>
/// The Azure Table storage behind one Event Hubs configuration: partition checkpoints and dead letters. Tables are
/// created on first use.
/// </summary>
public sealed class EventHubTables
{
    private readonly TableServiceClient _service;
    private readonly Lazy<Task<TableClient>> _checkpoints;
    private readonly Lazy<Task<TableClient>> _deadLetters;

    public EventHubTables(EventHubStreamOptions options)
    {
        _service = !string.IsNullOrWhiteSpace(options.TableConnectionString)
            ? new TableServiceClient(options.TableConnectionString)
            : new TableServiceClient(new Uri(options.TableServiceUri!), EventHubCredentials.Create(options));
        _checkpoints = new(() => OpenAsync(options.CheckpointTable));
        _deadLetters = new(() => OpenAsync(options.DeadLetterTable));
    }

    public Task<TableClient> CheckpointsAsync() => _checkpoints.Value;

    public Task<TableClient> DeadLettersAsync() => _deadLetters.Value;

    private async Task<TableClient> OpenAsync(string name)
    {
        var table = _service.GetTableClient(name);
        await table.CreateIfNotExistsAsync();
        return table;
    }
}

/// <summary>The managed identity (or developer login) used where no connection string is configured.</summary>
internal static class EventHubCredentials
{
    public static DefaultAzureCredential Create(EventHubStreamOptions options) =>
        new(new DefaultAzureCredentialOptions
        {
            ManagedIdentityClientId = string.IsNullOrWhiteSpace(options.ManagedIdentityClientId) ? null : options.ManagedIdentityClientId,
        });
}
