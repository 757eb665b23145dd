using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;

namespace OrleansFeatures.Grains.Hosting;

/// <summary>
/// Answers whether the Azure grain storage is reachable now, with one cheap data-plane call (a container or table
/// query), and remembers the last answer so writers can refuse early instead of timing out per entity.
/// </summary>
public sealed class AzureStorageProbe
{
    private readonly BlobContainerClient? _container;
    private readonly TableClient? _table;
    private volatile bool _lastReachable = true;

    public AzureStorageProbe(BlobContainerClient container) => _container = container;

    public AzureStorageProbe(TableClient table) => _table = table;

    /// <summary>The answer of the last probe (true before the first).</summary>
    public bool LastReachable => _lastReachable;

    /// <summary>Probes once, giving up (unreachable) after <paramref name="timeout"/>: the SDK's retries would otherwise wait for a minute.</summary>
    public async Task<bool> ProbeAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            if (_container is not null)
            {
                await _container.ExistsAsync(deadline.Token);
            }
            else
            {
                await foreach (var _ in _table!.QueryAsync<TableEntity>("PartitionKey eq 'probe'", maxPerPage: 1, cancellationToken: deadline.Token))
                {
                    break;
                }
            }

            _lastReachable = true;
        }
        catch (RequestFailedException failed) when (failed.Status == 404)
        {
            // The service answered; the table or container is created on first write.
            _lastReachable = true;
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            _lastReachable = false;
        }

        return _lastReachable;
    }
}
